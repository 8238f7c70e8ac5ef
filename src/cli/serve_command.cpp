// `segtransfer serve`: a TorchScript model behind HTTP, answering as a vendor's
// black-box API would (POST an image, get probabilities or labels back). For
// trying the HTTP path of `segtransfer query` end to end before the real API is
// at hand, and for serving a source model to other machines.
#include <httplib.h>

#include <iostream>
#include <mutex>
#include <opencv2/imgcodecs.hpp>

#include "cli/commands.h"
#include "core/error.h"
#include "data/label_space.h"
#include "engine/runtime.h"
#include "teachers/npy.h"
#include "teachers/torchscript_teacher.h"

namespace segtransfer::cli {

void add_serve_command(CLI::App& app) {
  struct Args {
    std::string model, size, host = "127.0.0.1", answer = "probabilities";
    int port = 8080, classes = 19, threads = 0;
  };
  auto args = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("serve",
                                 "serve a TorchScript model as an HTTP black box (POST /predict: image in, "
                                 "probabilities .npy or label PNG out)");
  cmd->add_option("-m,--model", args->model, "the TorchScript file (segtransfer export -o X.pt)")->required();
  cmd->add_option("--size", args->size, "input size WxH the file was traced at (images are resized to it)")->required();
  cmd->add_option("--host", args->host, "address to listen on (0.0.0.0: every interface)");
  cmd->add_option("--port", args->port, "port to listen on (0: any free port, printed)")->check(CLI::Range(0, 65535));
  cmd->add_option("--classes", args->classes, "classes the model outputs")->check(CLI::Range(1, 255));
  cmd->add_option("--answer", args->answer, "probabilities (float32 .npy, C x H x W) or labels (PNG of class ids)")
      ->check(CLI::IsMember({"probabilities", "labels"}));
  cmd->add_option("--threads", args->threads, "intra-op threads (0 = all cores)");
  cmd->footer(
      "Example (the demo's black box, then a query against it):\n"
      "  segtransfer serve -m runs/demo/black_box.pt --size 320x160 --port 8080 &\n"
      "  segtransfer query -c my.yaml --set teacher.type=http --set teacher.url=http://127.0.0.1:8080/predict");
  cmd->callback([args] {
    configure_threads(args->threads);
    auto [w, h] = parse_size(args->size, "--size");
    const DataSpec normalisation;  // the training normalisation, as the exported model expects
    TorchScriptTeacher model(args->model, AnswerFormat{"logits", args->classes}, normalisation.mean, normalisation.std,
                             cv::Size(w, h), torch::kCPU);
    std::mutex model_mutex;  // one forward at a time: intra-op threads already use every core

    httplib::Server server;
    server.Get("/", [&](const httplib::Request&, httplib::Response& res) {
      res.set_content("segtransfer black box: POST an image (PNG/JPEG bytes) to /predict\n", "text/plain");
    });
    server.Post("/predict", [&](const httplib::Request& req, httplib::Response& res) {
      const std::vector<uchar> bytes(req.body.begin(), req.body.end());
      const cv::Mat image = bytes.empty() ? cv::Mat() : cv::imdecode(bytes, cv::IMREAD_COLOR);
      if (image.empty()) {
        res.status = 400;
        res.set_content("the body is not a PNG or JPEG image\n", "text/plain");
        return;
      }
      try {
        TeacherAnswer answer;
        {
          std::lock_guard<std::mutex> lock(model_mutex);
          answer = model.ask(image, "request");
        }
        if (args->answer == "labels") {
          const auto labels = answer.probabilities.argmax(0).to(torch::kU8).contiguous();
          std::vector<uchar> png;
          cv::imencode(".png", cv::Mat(image.rows, image.cols, CV_8UC1, labels.data_ptr<uint8_t>()), png);
          res.set_content(std::string(png.begin(), png.end()), "image/png");
        } else {
          res.set_content(encode_npy(answer.probabilities), "application/octet-stream");
        }
      } catch (const std::exception& e) {
        res.status = 500;
        res.set_content(std::string("the model failed: ") + e.what() + "\n", "text/plain");
      }
    });
    const int port = args->port == 0 ? server.bind_to_any_port(args->host) : args->port;
    if (port <= 0 || (args->port != 0 && !server.bind_to_port(args->host, args->port)))
      throw Error("cannot listen on " + args->host + ":" + std::to_string(args->port) +
                  " (in use, or not an address here)");
    std::cout << "serving " << args->model << " on http://" << args->host << ":" << port << "/predict (Ctrl-C stops)"
              << std::endl;
    server.listen_after_bind();
  });
}

}  // namespace segtransfer::cli
