"""Forward + backward of the 4 strided dilated depth-wise branches of an EESP DownSampler (espnetv2_s2 levels
2-4, batch 8, 240x176 input), 2 threads: A all channels-last, B branches in NCHW (one conversion in and out),
C as B but the dilation-1 branch channels-last.
  /usr/bin/python3 bench/python_ref/espnetv2_strided_branches.py
"""
import time, torch, torch.nn.functional as F
torch.set_num_threads(2); torch.manual_seed(0)
def bench(f, n=8):
    f(); f()
    t = time.perf_counter()
    for _ in range(n): f()
    return (time.perf_counter() - t) / n * 1000
CL = torch.channels_last
for C, H, W in ((24, 88, 120), (32, 44, 60), (64, 22, 30)):
    x = torch.randn(8, C, H, W).contiguous(memory_format=CL).requires_grad_()
    ws = [torch.randn(C, 1, 3, 3).contiguous(memory_format=CL).requires_grad_() for _ in range(4)]
    print("weight strides", ws[0].stride(), ws[0].is_contiguous())
    def block(mode):
        def f():
            outs = []
            xn = x.contiguous() if mode != "A" else x
            for i, w in enumerate(ws):
                d = i + 1
                if mode == "A" or (mode == "C" and d == 1):
                    y = F.conv2d(x, w, stride=2, padding=d, dilation=d, groups=C)
                    if mode == "C": y = y.contiguous()
                else:
                    y = F.conv2d(xn, w.contiguous(), stride=2, padding=d, dilation=d, groups=C)
                outs.append(y if not outs else y + outs[-1])
            out = torch.cat(outs, 1).contiguous(memory_format=CL)
            f.fmt = (outs[1].is_contiguous(), outs[1].is_contiguous(memory_format=CL))
            out.backward(torch.ones_like(out))
        return f
    for mode in "ABC":
        f = block(mode); t = bench(f)
        print(C, H, W, mode, "%.1f ms" % t, "branch-2 output contiguous/CL:", f.fmt)
