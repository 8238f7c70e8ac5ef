// A fake black box for the HTTP tests: an httplib server on a free local port.
#pragma once
#include <fmt/format.h>
#include <httplib.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>

namespace segtransfer::testing {

// An httplib::Server on 127.0.0.1 (any free port) serving POST /predict with
// `handler`, which also sees how many requests came before this one.
class FakeBlackBox {
 public:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&, int64_t index)>;

  // json: the requests carry a JSON body (teacher.request: json) instead of a PNG.
  explicit FakeBlackBox(Handler handler, bool json = false) : handler_(std::move(handler)) {
    server_.Post("/predict", [this, json](const httplib::Request& req, httplib::Response& res) {
      const int64_t index = seen_++;
      if (req.get_header_value("Content-Type") != (json ? "application/json" : "image/png") ||
          !req.has_header("X-Image-Stem")) {
        res.status = 400;
        return;
      }
      handler_(req, res, index);
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~FakeBlackBox() {
    server_.stop();
    thread_.join();
  }

  std::string url() const { return fmt::format("http://127.0.0.1:{}/predict", port_); }
  int64_t seen() const { return seen_.load(); }

 private:
  httplib::Server server_;
  Handler handler_;
  std::atomic<int64_t> seen_{0};
  int port_ = 0;
  std::thread thread_;
};

}  // namespace segtransfer::testing
