#!/usr/bin/python3
"""The PyTorch (Python) side of the training-step benchmark (docs/benchmarks.md section 1).

Builds the same model, trainable set and step as bench/step/step_bench.cpp does through aft,
in plain PyTorch as a Python user would write it, and times training steps on a fixed random
batch. Run with Debian's python3-torch (/usr/bin/python3), the same LibTorch release as aft's.

  step_torch.py --case NAME --threads N [--warmup 2] [--seconds 3] [--min-steps 3]
                [--device cpu|cuda] [--amp off|bf16] [--channels-last] [--batch N]
  step_torch.py --list            cases, one per line (--list-gpu: section 5's 224-px cases)
  step_torch.py --flops NAME      model FLOPs per image of one training step (JSON)
  step_torch.py --gemm            float32 matrix-multiply rate (GFLOP/s), best of several

The step per batch is what aft's Trainer does: zero_grad, forward, loss.item(), backward,
the method's gradient hook (masks), optimizer step, and the accuracy count (.item()).
Timing: median time of the timed steps; images/s = batch / median step time. On CUDA the
.item() calls wait for the device, so each step's time is complete; --amp bf16 autocasts the
forward and the loss (the loss itself in float32), as aft's AutocastScope does.

FLOP convention (--flops): only convolutions, linear layers and attention matmuls are
counted, 2 FLOPs per multiply-add. Per layer: forward F; + F for the weight gradient when
its weight trains; + F for the input gradient when its input needs a gradient (so a frozen
prefix costs only its forward). A fully trainable network thus costs about 3 F per image.
"""
import argparse
import contextlib
import json
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torchvision.models.resnet import BasicBlock, conv1x1

NUM_CLASSES = 10

# name: (model, image size, batch, method). Methods: full | last (last stage + head train;
# frozen batch norms in eval mode, as aft's partial method) | mask (contribution masks on
# every layer, ratio 0.5, the reference's grad *= mask) | mask_strict (also puts the
# pretrained values of masked entries back after the step, aft's default) | spottune.
CASES = {
    "r18_32":        ("resnet18", 32, 64, "full"),
    "r18_64":        ("resnet18", 64, 64, "full"),
    "cifar_b32":     ("cifar", 32, 32, "full"),
    "cifar_b128":    ("cifar", 32, 128, "full"),
    "vit_ti4":       ("vit_ti_4", 32, 32, "full"),
    "r18_32_last":   ("resnet18", 32, 64, "last"),
    "r18_64_last":   ("resnet18", 64, 64, "last"),
    "cifar_b32_last":  ("cifar", 32, 32, "last"),
    "cifar_b128_last": ("cifar", 32, 128, "last"),
    "vit_ti4_last":  ("vit_ti_4", 32, 32, "last"),
    "mask_cifar_b32": ("cifar", 32, 32, "mask"),
    "mask_strict_cifar_b32": ("cifar", 32, 32, "mask_strict"),
    "spottune_r26_64": ("resnet26", 64, 16, "spottune"),
    # The weights' own reference implementation (tools/fetch_efficientnet_lite.sh caches it).
    "lite0_128": ("efficientnet_lite0_128", 128, 32, "full"),
    "lite0_160": ("efficientnet_lite0_160", 160, 32, "full"),
    "lite0_224": ("efficientnet_lite0_224", 224, 32, "full"),
}
# Section 5 (tools/gpu_time.sh): 224-px torchvision models, too heavy for the CPU list.
GPU_CASES = {
    "resnet50_224": ("resnet50", 224, 128, "full"),
    "vit_b16_224": ("vit_b_16", 224, 128, "full"),
}
ALL_CASES = {**CASES, **GPU_CASES}
MASK_RATIO = 0.5


# ---- models ----------------------------------------------------------------------------

class ResNetW(nn.Module):
    """torchvision's ResNet (basic blocks, projection shortcuts, same names) with a channel
    multiplier and optionally aft's small stem (3x3/1 conv, no max pool)."""

    def __init__(self, depths, base, small_stem, num_classes):
        super().__init__()
        self.inplanes = base
        k, s, p = (3, 1, 1) if small_stem else (7, 2, 3)
        self.conv1 = nn.Conv2d(3, base, kernel_size=k, stride=s, padding=p, bias=False)
        self.bn1 = nn.BatchNorm2d(base)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity() if small_stem else nn.MaxPool2d(3, 2, 1)
        for i, d in enumerate(depths):
            setattr(self, "layer%d" % (i + 1), self._make_layer(base << i, d, 1 if i == 0 else 2))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(base << (len(depths) - 1), num_classes)
        self.depth = len(depths)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes, blocks, stride):
        down = None
        if stride != 1 or self.inplanes != planes:
            down = nn.Sequential(conv1x1(self.inplanes, planes, stride), nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, down)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        for i in range(self.depth):
            x = getattr(self, "layer%d" % (i + 1))(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


# SpotTune, after the reference code (gyhui14/spottune, models.py / agent_net.py / main.py).
def conv3x3(i, o, stride=1):
    return nn.Conv2d(i, o, kernel_size=3, stride=stride, padding=1, bias=False)


class DownsampleB(nn.Module):
    def __init__(self, n_in, n_out, stride):
        super().__init__()
        self.avg = nn.AvgPool2d(stride)
        self.expand_ratio = n_out // n_in

    def forward(self, x):
        x = self.avg(x)
        return torch.cat([x] + [x.mul(0)] * (self.expand_ratio - 1), 1)


class RefBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1):
        super().__init__()
        self.conv1 = conv3x3(in_planes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        return self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))


class RefResNet(nn.Module):
    """ResNet-26 (3 stages of `layers` blocks at 64/128/256, stride 2 each, DownsampleB
    shortcuts); with parallel=True every block has a second copy and forward takes a policy."""

    def __init__(self, layers, num_class, parallel):
        super().__init__()
        self.in_planes = 32
        self.conv1 = conv3x3(3, 32, 1)
        self.bn1 = nn.BatchNorm2d(32)
        self.layer_config = layers
        blocks, ds, par = [], [], []
        for filt, n, stride in zip([64, 128, 256], layers, [2, 2, 2]):
            in_planes = self.in_planes
            b, d = self._make_layer(filt, n, stride)
            blocks.append(nn.ModuleList(b))
            ds.append(d)
            if parallel:
                self.in_planes = in_planes
                pb, _ = self._make_layer(filt, n, stride)
                par.append(nn.ModuleList(pb))
        self.blocks = nn.ModuleList(blocks)
        self.ds = nn.ModuleList(ds)
        self.parallel_blocks = nn.ModuleList(par) if parallel else None
        self.bn2 = nn.Sequential(nn.BatchNorm2d(256), nn.ReLU(True))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.linear = nn.Linear(256, num_class)
        if parallel:
            for b, pb in zip(self.blocks, self.parallel_blocks):
                pb.load_state_dict(b.state_dict())

    def _make_layer(self, planes, n, stride):
        shortcut = nn.Sequential()
        if stride != 1 or self.in_planes != planes:
            shortcut = DownsampleB(self.in_planes, planes, 2)
        layers = [RefBlock(self.in_planes, planes, stride)]
        self.in_planes = planes
        layers += [RefBlock(planes, planes) for _ in range(1, n)]
        return layers, shortcut

    def forward(self, x, policy=None):
        x = self.bn1(self.conv1(x))
        t = 0
        for segment, num_blocks in enumerate(self.layer_config):
            for b in range(num_blocks):
                residual = self.ds[segment](x) if b == 0 else x
                output = self.blocks[segment][b](x)
                if policy is None:
                    x = F.relu(residual + output)
                else:
                    action_mask = policy[:, t].contiguous().float().view(-1, 1, 1, 1)
                    output_ = self.parallel_blocks[segment][b](x)
                    f1 = F.relu(residual + output)
                    f2 = F.relu(residual + output_)
                    x = f1 * (1 - action_mask) + f2 * action_mask
                t += 1
        x = self.avgpool(self.bn2(x))
        return self.linear(x.view(x.size(0), -1))


def gumbel_softmax(logits, temperature=5.0, eps=1e-20):
    u = torch.rand_like(logits)
    y = F.softmax((logits - torch.log(-torch.log(u + eps) + eps)) / temperature, dim=-1)
    shape = y.size()
    _, ind = y.max(dim=-1)
    y_hard = torch.zeros_like(y).view(-1, shape[-1])
    y_hard.scatter_(1, ind.view(-1, 1), 1)
    return (y_hard.view(*shape) - y).detach() + y


class SpotTune(nn.Module):
    def __init__(self, num_classes):
        super().__init__()
        self.net = RefResNet([4, 4, 4], num_classes, parallel=True)
        self.agent = RefResNet([1, 1, 1], 2 * 12, parallel=False)

    def forward(self, x):
        probs = self.agent(x)
        action = gumbel_softmax(probs.view(probs.size(0), -1, 2))
        return self.net(x, action[:, :, 1])


def build_model(arch):
    if arch == "resnet18":
        return torchvision.models.resnet18(num_classes=NUM_CLASSES)
    if arch == "cifar":  # aft's resnet18 --stem small --width 0.25 (the demo's source model)
        return ResNetW([2, 2, 2, 2], 16, True, NUM_CLASSES)
    if arch == "vit_ti_4":
        return torchvision.models.VisionTransformer(image_size=32, patch_size=4, num_layers=12, num_heads=3,
                                                    hidden_dim=192, mlp_dim=768, num_classes=NUM_CLASSES)
    if arch == "resnet26":
        return SpotTune(NUM_CLASSES)
    if arch == "resnet50":
        return torchvision.models.resnet50(num_classes=NUM_CLASSES)
    if arch == "vit_b_16":
        return torchvision.models.vit_b_16(num_classes=NUM_CLASSES)
    if arch.startswith("efficientnet_lite0_"):  # the static padding is computed for the case's size
        import os, sys
        cache = os.environ.get("AFT_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "aft"))
        sys.path.insert(0, os.path.join(cache, "efficientnet-lite", "unpacked", "efficientnet-lite-pytorch"))
        from efficientnet_lite_pytorch import EfficientNet
        # No stochastic depth: aft trains with --drop-path 0 by default.
        return EfficientNet.from_name("efficientnet-lite0", num_classes=NUM_CLASSES, image_size=int(arch.rsplit("_", 1)[1]),
                                 drop_connect_rate=0.0)
    raise SystemExit("unknown arch " + arch)


# ---- trainable sets ----------------------------------------------------------------------

def last_stage_prefixes(arch):
    if arch == "vit_ti_4":  # the last quarter of the encoder (3 of 12 blocks) + head
        return ["encoder.layers.encoder_layer_%d." % i for i in (9, 10, 11)] + ["heads."]
    return ["layer4.", "fc."]


class Step:
    """One configured case: model, optimizer(s), trainable set, and the per-step method hooks."""

    def __init__(self, name, device="cpu", amp="off", channels_last=False, batch=0):
        arch, size, case_batch, method = ALL_CASES[name]
        batch = batch or case_batch
        self.batch, self.method = batch, method
        torch.manual_seed(0)
        self.model = build_model(arch)
        if device != "cpu" or channels_last:
            self.model.to(device=device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
        self.autocast = (lambda: torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)) \
            if amp == "bf16" else contextlib.nullcontext
        self.model.train()
        self.frozen_bn = []
        self.masks = []
        if method == "last":
            prefixes = last_stage_prefixes(arch)
            for n, p in self.model.named_parameters():
                p.requires_grad_(any(n.startswith(q) for q in prefixes))
            for n, m in self.model.named_modules():
                if isinstance(m, nn.BatchNorm2d) and not any((n + ".").startswith(q) for q in prefixes):
                    self.frozen_bn.append(m)
        if method in ("mask", "mask_strict"):
            # The reference's value criterion, lowest first: tune the MASK_RATIO fraction of
            # entries with the smallest pretrained values in every backbone tensor.
            for n, p in self.model.named_parameters():
                if n.startswith("fc."):
                    continue
                k = int(MASK_RATIO * p.numel())
                order = torch.sort(p.detach().flatten(), stable=True).indices
                mask = torch.zeros(p.numel(), dtype=torch.bool, device=p.device)
                mask[order[:k]] = True
                mask = mask.view_as(p)
                self.masks.append((p, mask.float(), mask, p.detach().clone() if method == "mask_strict" else None))
        if method == "spottune":
            net = self.model.net
            for n, m in net.named_modules():
                # The frozen copies' convolutions (the reference freezes exactly those; aft's
                # --frozen-bn train: their batch norms still train).
                if isinstance(m, nn.Conv2d) and n.startswith("blocks."):
                    m.weight.requires_grad_(False)
            self.optimizers = [
                torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9,
                                weight_decay=5e-4),
                torch.optim.SGD(self.model.agent.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-3)]
        else:
            self.optimizers = [torch.optim.SGD([p for p in self.model.parameters() if p.requires_grad], lr=0.01,
                                               momentum=0.9, weight_decay=5e-4)]
        self.set_training()
        g = torch.Generator().manual_seed(1)
        # Drawn on the CPU (the same numbers on every device), then kept on the device.
        self.images = torch.randn(batch, 3, size, size, generator=g).to(device)
        if channels_last:
            self.images = self.images.contiguous(memory_format=torch.channels_last)
        self.labels = torch.randint(0, NUM_CLASSES, (batch,), generator=g).to(device)
        self.seen = self.correct = 0
        self.loss_sum = 0.0
        self.phase = [0.0, 0.0, 0.0]  # forward, backward, masks + optimizer (ms, summed)

    def set_training(self):
        self.model.train()
        for m in self.frozen_bn:
            m.eval()

    def step(self):
        t = time.perf_counter()
        for opt in self.optimizers:
            opt.zero_grad()
        with self.autocast():
            logits = self.model(self.images)
            loss = F.cross_entropy(logits.float(), self.labels)  # aft's task loss: float32 logits
        loss_value = loss.item()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        if self.masks:
            with torch.no_grad():
                for p, m, _, _ in self.masks:
                    p.grad.mul_(m)
        for opt in self.optimizers:
            opt.step()
        if self.masks and self.masks[0][3] is not None:
            with torch.no_grad():
                for p, _, keep, pretrained in self.masks:
                    p.copy_(torch.where(keep, p, pretrained))
        self.loss_sum += loss_value * self.batch
        self.correct += logits.argmax(1).eq(self.labels).sum().item()
        self.seen += self.batch
        for i, v in enumerate((t1 - t, t2 - t1, time.perf_counter() - t2)):
            self.phase[i] += v * 1e3

    def infer(self):
        # What aft's evaluation runs per batch: eval mode, no gradient; the read waits for the device.
        self.model.eval()
        with torch.no_grad(), self.autocast():
            self.correct += self.model(self.images).argmax(1).eq(self.labels).sum().item()


def time_case(name, warmup, seconds, min_steps, device="cpu", amp="off", channels_last=False, batch=0,
              inference=False):
    s = Step(name, device, amp, channels_last, batch)
    run = s.infer if inference else s.step
    for _ in range(warmup):
        run()
    s.phase = [0.0, 0.0, 0.0]
    times = []
    start = time.perf_counter()
    while len(times) < min_steps or time.perf_counter() - start < seconds:
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    params = list(s.model.parameters())
    out = {"case": name, "side": "torch", "threads": torch.get_num_threads(), "batch": s.batch,
           "steps": len(times), "step_ms_median": med * 1e3,
           "images_per_second": s.batch / med,
           "images_per_second_mean": s.batch * len(times) / sum(times),
           "params": sum(p.numel() for p in params),
           "trainable_params": sum(p.numel() for p in params if p.requires_grad),
           "phase_ms_mean": dict(zip(("forward", "backward", "step"), (v / len(times) for v in s.phase)))}
    if inference:
        out["mode"] = "inference"
    if device != "cpu" or amp != "off" or channels_last:  # section 1's lines keep their keys
        out.update({"device": str(s.images.device), "amp": amp, "channels_last": channels_last,
                    "torch_version": torch.__version__})
        if s.images.is_cuda:
            # Section 5's peak memory (warm-up included), as PyTorch's caching allocator counts it.
            out.update({"device_name": torch.cuda.get_device_name(s.images.device),
                        "cuda_max_memory_allocated_mib": torch.cuda.max_memory_allocated(s.images.device) / 2**20,
                        "cuda_max_memory_reserved_mib": torch.cuda.max_memory_reserved(s.images.device) / 2**20})
    return out


# ---- FLOPs --------------------------------------------------------------------------------

def count_flops(name, device="cpu", batch=0):
    s = Step(name, device, batch=batch)
    total = [0.0, 0.0]  # forward, training step

    def needs(t):
        return isinstance(t, torch.Tensor) and t.requires_grad

    def hook(m, inp, out):
        x = inp[0]
        if isinstance(m, nn.Conv2d):
            f = 2.0 * out.numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
        else:
            f = 2.0 * out.numel() * m.in_features
        total[0] += f
        total[1] += f * (1 + m.weight.requires_grad + needs(x))

    def block_hook(m, inp, out):
        # torchvision's EncoderBlock calls its MultiheadAttention with keywords (which forward
        # hooks do not see) and runs out_proj functionally, so attention is counted per block.
        attn = m.self_attention
        n, length, d = out.shape
        proj_in, proj_out = 2.0 * n * length * d * 3 * d, 2.0 * n * length * d * d
        mm = 4.0 * n * length * length * d
        total[0] += proj_in + proj_out + mm
        tw = attn.in_proj_weight.requires_grad
        rx = needs(inp[0]) or m.ln_1.weight.requires_grad  # the attention input needs a gradient
        step = proj_in + proj_out + mm
        step += (proj_in + proj_out) * tw          # weight gradients
        step += (proj_out + 2 * mm) * (tw or rx)   # gradients inside the attention
        step += proj_in * rx                       # gradient to the attention's input
        total[1] += step

    for m in s.model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)) and not isinstance(m, nn.modules.linear.NonDynamicallyQuantizableLinear):
            m.register_forward_hook(hook)
        if isinstance(m, torchvision.models.vision_transformer.EncoderBlock):
            m.register_forward_hook(block_hook)
    s.model(s.images)
    return {"case": name, "batch": s.batch, "forward_flops_per_image": total[0] / s.batch,
            "step_flops_per_image": total[1] / s.batch}


def gemm(size=2048, repeats=5):
    a, b = torch.randn(size, size), torch.randn(size, size)
    best = float("inf")
    torch.mm(a, b)
    for _ in range(repeats):
        t0 = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t0)
    return {"side": "torch", "size": size, "threads": torch.get_num_threads(), "gflops": 2.0 * size ** 3 / best / 1e9}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case")
    p.add_argument("--list", action="store_true")
    p.add_argument("--list-gpu", action="store_true")
    p.add_argument("--flops")
    p.add_argument("--gemm", action="store_true")
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--threads", type=int, default=0, help="0: one per core")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--min-steps", type=int, default=3)
    p.add_argument("--device", default="cpu")
    p.add_argument("--amp", default="off", choices=["off", "bf16"], help="fp16 would need a loss scaler in the step")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--batch", type=int, default=0, help="0: the case's own")
    p.add_argument("--inference", action="store_true", help="time the eval-mode forward pass, not the training step")
    a = p.parse_args()
    import os
    torch.set_num_threads(a.threads if a.threads > 0 else os.cpu_count())
    if a.list:
        print("\n".join(CASES))
    elif a.list_gpu:
        print("\n".join(GPU_CASES))
    elif a.flops:
        print(json.dumps(count_flops(a.flops, a.device, a.batch)))
    elif a.gemm:
        print(json.dumps(gemm(a.size)))
    elif a.case in ALL_CASES:
        print(json.dumps(time_case(a.case, a.warmup, a.seconds, a.min_steps, a.device, a.amp, a.channels_last,
                                   a.batch, a.inference)))
    else:
        sys.exit("step_torch.py: unknown or missing --case; one of: " + ", ".join(ALL_CASES))


if __name__ == "__main__":
    main()
