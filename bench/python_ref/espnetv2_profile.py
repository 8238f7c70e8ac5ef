"""Autograd profile of the ESPNetv2 training step in PyTorch (espnetv2_ref.py), random batch 8 of 240x176,
2 threads: per-phase ms, then operators by self time (overall and by input shape).
  /usr/bin/python3 bench/python_ref/espnetv2_profile.py cl|nchw [width]
"""
import sys, time, torch, torch.nn.functional as F
sys.path.insert(0, __import__("os").path.dirname(__file__))
from espnetv2_ref import espnetv2
torch.set_num_threads(2); torch.manual_seed(0)
cl = sys.argv[1] == "cl"
width = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
m = espnetv2(19, width).train()
if cl: m = m.to(memory_format=torch.channels_last)
opt = torch.optim.AdamW(m.parameters(), lr=1e-3, weight_decay=0.01)
x = torch.randn(8, 3, 176, 240); y = torch.randint(0, 19, (8, 176, 240))
if cl: x = x.contiguous(memory_format=torch.channels_last)
def step():
    t = [time.perf_counter()]
    loss = F.cross_entropy(m(x), y, ignore_index=255); t.append(time.perf_counter())
    opt.zero_grad(); loss.backward(); t.append(time.perf_counter())
    opt.step(); t.append(time.perf_counter())
    return [b - a for a, b in zip(t, t[1:])]
for _ in range(3): step()
ts = [step() for _ in range(5)]
print("fwd/bwd/opt ms", [round(1000 * sum(t[i] for t in ts) / len(ts), 1) for i in range(3)])
with torch.autograd.profiler.profile(record_shapes=True) as prof:
    for _ in range(3): step()
print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=30))
print(prof.key_averages(group_by_input_shape=True).table(sort_by="self_cpu_time_total", row_limit=40))
