#!/usr/bin/env python3
"""PyTorch reference of two segtransfer training steps, for a side-by-side speed benchmark.

  --method source_only : src/methods/source_only.cpp (CE on the labelled source domain)
  --method corte       : src/methods/corte.cpp (CoRTe from a black box's stored top-k answers)

The model, data pipeline, optimiser, schedule and per-step compute follow the C++ code
file by file (see README.md next to this file); exact numerical equality is not the
goal, the same amount and kind of work per step is. Prints one JSON line at the end.
"""
import argparse
import ctypes
import json
import math
import os
import random
import resource
import struct
import sys
import time
import zlib
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader, Dataset, RandomSampler
from torchvision.models import mobilenet_v3_large, mobilenet_v3_small
from torchvision.models._utils import IntermediateLayerGetter
from torchvision.models.segmentation.lraspp import LRASPP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from espnetv2_ref import espnetv2  # noqa: E402  (our C++ ESPNetv2, restated in PyTorch)

IGNORE = 255  # data/label_space.h kIgnoreIndex
NUM_CLASSES = 19
# core/config.h DataSpec: RGB, 0..255 scale.
MEAN = (123.675, 116.28, 103.53)
STD = (58.395, 57.12, 57.375)


# ----------------------------------------------------------------------------------------
# Label ids (src/data/label_space.cpp IdMap)
# ----------------------------------------------------------------------------------------

def cityscapes_label_id_lut():
    """IdMap::cityscapes_label_ids(): Cityscapes / GTA5 labelIds -> trainIds, else 255."""
    lut = np.full(1 << 16, IGNORE, np.uint8)
    for train_id, label_id in enumerate((7, 8, 11, 12, 13, 17, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 31, 32, 33)):
        lut[label_id] = train_id
    return lut


def identity_lut(num_classes=NUM_CLASSES):
    """IdMap::identity(19): trainId files (0..18, 255 ignore)."""
    lut = np.full(1 << 16, IGNORE, np.uint8)
    lut[:num_classes] = np.arange(num_classes, dtype=np.uint8)
    return lut


# RGB colours of labelIds 0..33 (dataset.cpp cityscapes_label_id_colours): GTA5's indexed
# PNGs, which OpenCV expands to colour; the first id of a repeated colour wins.
_PALETTE = [(0, 0, 0)] * 5 + [
    (111, 74, 0), (81, 0, 81), (128, 64, 128), (244, 35, 232), (250, 170, 160), (230, 150, 140), (70, 70, 70),
    (102, 102, 156), (190, 153, 153), (180, 165, 180), (150, 100, 100), (150, 120, 90), (153, 153, 153),
    (153, 153, 153), (250, 170, 30), (220, 220, 0), (107, 142, 35), (152, 251, 152), (70, 130, 180),
    (220, 20, 60), (255, 0, 0), (0, 0, 142), (0, 0, 70), (0, 60, 100), (0, 0, 90), (0, 0, 110),
    (0, 80, 100), (0, 0, 230), (119, 11, 32)]


def decode_palette_label(bgr, path):
    key = (bgr[..., 2].astype(np.int32) << 16) | (bgr[..., 1].astype(np.int32) << 8) | bgr[..., 0]
    ids = np.full(key.shape, -1, np.int32)
    for raw_id in reversed(range(len(_PALETTE))):  # reversed: the first id of a colour wins
        r, g, b = _PALETTE[raw_id]
        ids[key == ((r << 16) | (g << 8) | b)] = raw_id
    if (ids < 0).any():
        raise ValueError(f"colour label '{path}' has a colour outside the label palette")
    return ids.astype(np.uint16)


# ----------------------------------------------------------------------------------------
# Prediction store entries (src/teachers/prediction_store.cpp)
# ----------------------------------------------------------------------------------------

_HEADER = struct.Struct("<4sHBBHHIII")  # magic, version, k, flags, num_classes, reserved, w, h, compressed
assert _HEADER.size == 24


def read_topk(path):
    """One .topk entry -> (k, planes (2k, H, W) uint8: k class planes, then k probability planes)."""
    data = Path(path).read_bytes()
    magic, version, k, _flags, num_classes, _res, w, h, compressed = _HEADER.unpack_from(data)
    if magic != b"STPK" or version != 1:
        raise ValueError(f"{path}: not a version-1 prediction-store entry")
    if len(data) != _HEADER.size + compressed + 4:
        raise ValueError(f"{path}: {len(data)} bytes but the header announces {_HEADER.size + compressed + 4}")
    (crc,) = struct.unpack_from("<I", data, len(data) - 4)
    if zlib.crc32(memoryview(data)[:-4]) != crc:
        raise ValueError(f"{path}: checksum mismatch")
    planes = np.frombuffer(zlib.decompress(memoryview(data)[_HEADER.size:_HEADER.size + compressed]), np.uint8)
    planes = planes.reshape(2 * k, h, w)
    classes = planes[:k]
    if ((classes != IGNORE) & (classes >= num_classes)).any():  # decode_store_entry's class-id check
        raise ValueError(f"{path}: class id beyond the store's {num_classes} classes")
    return k, planes


def store_top_k(store):
    manifest = json.loads((Path(store) / "store.json").read_text())
    if manifest.get("format") != "segtransfer-topk":
        raise ValueError(f"{store}: not a segtransfer prediction store")
    return int(manifest["top_k"]), int(manifest["num_classes"])


def corte_thresholds(stems, store, num_classes):
    """Corte::compute_thresholds with the defaults (relative, per_class, mean): tau_c is the mean
    quantised p1 - p2 of the pixels whose top-1 is c, over the whole target set; 0 if c never wins."""
    sums = np.zeros(num_classes)
    counts = np.zeros(num_classes)
    for stem in stems:
        k, planes = read_topk(Path(store) / f"{stem}.topk")
        cls = planes[0]
        conf = planes[k].astype(np.int16)
        if k > 1:
            conf = np.maximum(0, conf - planes[k + 1])
        valid = (cls != IGNORE) & (cls < num_classes)
        sums += np.bincount(cls[valid], weights=conf[valid], minlength=num_classes)[:num_classes]
        counts += np.bincount(cls[valid], minlength=num_classes)[:num_classes]
    return torch.tensor(np.where(counts > 0, sums / np.maximum(counts, 1) / 255.0, 0.0), dtype=torch.float32)


# ----------------------------------------------------------------------------------------
# Datasets (src/data/dataset.cpp layouts) and augmentation (src/data/transforms.cpp)
# ----------------------------------------------------------------------------------------

def gta5_files(root, split):
    """gta5_layout: images/*.png, labels/<stem>.png (labelIds), the split as <split>.txt."""
    root = Path(root)
    by_stem = {p.stem: p for p in sorted((root / "images").glob("*.png"))}
    stems = sorted(by_stem)
    if split and (root / f"{split}.txt").is_file():
        stems = [s.strip() for s in (root / f"{split}.txt").read_text().splitlines()
                 if s.strip() and not s.strip().startswith("#")]
    return [(str(by_stem[s]), str(root / "labels" / f"{s}.png"), s) for s in stems], cityscapes_label_id_lut()


def cityscapes_files(root, split, labels=True):
    """cityscapes_layout: leftImg8bit/<split>/<city>/*_leftImg8bit.png; gtFine trainIds when every image has
    them, else labelIds through the id map."""
    root = Path(root)
    image_dir = root / "leftImg8bit" / split
    suffix = "_leftImg8bit.png"
    images = sorted(image_dir.rglob(f"*{suffix}"))
    stems = [p.name[:-len(suffix)] for p in images]
    if not labels:
        return [(str(p), None, s) for p, s in zip(images, stems)], None
    base = [root / "gtFine" / split / p.parent.relative_to(image_dir) / f"{s}_gtFine_" for p, s in zip(images, stems)]
    if all(Path(f"{b}labelTrainIds.png").is_file() for b in base):
        return [(str(p), f"{b}labelTrainIds.png", s) for p, b, s in zip(images, base, stems)], identity_lut()
    return [(str(p), f"{b}labelIds.png", s) for p, b, s in zip(images, base, stems)], cityscapes_label_id_lut()


def lround(x):
    return int(math.floor(x + 0.5))


class SegDataset(Dataset):
    """SegDataset::read + the loader's per-sample work (DataLoader::make_batch): decode with cv2,
    map label ids, attach the stored answer as extra label channels, augment (scale, crop, flip),
    normalise to a float CHW tensor."""

    def __init__(self, files, id_lut, crop, scale_range=(0.75, 1.5), hflip=0.5, store=None):
        self.files, self.id_lut = files, id_lut
        self.crop, self.scale_range, self.hflip = crop, scale_range, hflip
        self.store = store
        self.top_k = store_top_k(store)[0] if store else 0
        self.mean = np.array(MEAN, np.float32)
        self.inv_std = 1.0 / np.array(STD, np.float32)

    def __len__(self):
        return len(self.files)

    def _read_label(self, path):
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if raw is None:
            raise FileNotFoundError(path)
        if raw.ndim == 3:  # a colour (palette) label
            raw = decode_palette_label(raw[..., :3], path)
        # IdMap::apply also tallies the ids outside the map (reported as a warning).
        if raw.dtype == np.uint8:
            np.bincount(raw.ravel(), minlength=256)
        return self.id_lut[raw]

    def __getitem__(self, index):
        image_path, label_path, stem = self.files[index]
        image = cv2.imread(image_path, cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(image_path)
        h, w = image.shape[:2]
        label = self._read_label(label_path) if label_path else None

        # The stored answer rides along with the label as extra channels (loader.cpp), padded
        # to the store's k; every geometric step treats it like the label.
        carrier = label
        if self.store:
            k, planes = read_topk(os.path.join(self.store, f"{stem}.topk"))
            if planes.shape[1:] != (h, w):
                raise ValueError(f"stored answer of {stem} is not {w}x{h}")
            kk = self.top_k
            carrier = np.empty((h, w, 1 + 2 * kk), np.uint8)
            carrier[..., 0] = label if label is not None else IGNORE
            carrier[..., 1:1 + k] = planes[:k].transpose(1, 2, 0)
            carrier[..., 1 + k:1 + kk] = IGNORE
            carrier[..., 1 + kk:1 + kk + k] = planes[k:].transpose(1, 2, 0)
            carrier[..., 1 + kk + k:] = 0

        # random_scale: factor uniform in [lo, hi]; image bilinear, labels nearest.
        lo, hi = self.scale_range
        if not (lo == hi == 1):
            f = lo if lo == hi else random.uniform(lo, hi)
            size = (max(1, lround(w * f)), max(1, lround(h * f)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_LINEAR)
            if carrier is not None:
                carrier = cv2.resize(carrier, size, interpolation=cv2.INTER_NEAREST)
            h, w = image.shape[:2]

        # random_crop (cat_max_ratio 1: no retries), padded bottom/right with 0 / ignore.
        cw, ch = self.crop
        iw, ih = min(cw, w), min(ch, h)
        x = random.randint(0, w - iw)
        y = random.randint(0, h - ih)
        if (iw, ih) == (cw, ch):
            image = image[y:y + ch, x:x + cw]
            if carrier is not None:
                carrier = carrier[y:y + ch, x:x + cw]
        else:
            padded = np.zeros((ch, cw, 3), np.uint8)
            padded[:ih, :iw] = image[y:y + ih, x:x + iw]
            image = padded
            if carrier is not None:
                padded = np.full((ch, cw) + carrier.shape[2:], IGNORE, np.uint8)
                padded[:ih, :iw] = carrier[y:y + ih, x:x + iw]
                carrier = padded

        # random_hflip
        if self.hflip > 0 and (self.hflip >= 1 or random.random() < self.hflip):
            image = cv2.flip(image, 1)
            if carrier is not None:
                carrier = cv2.flip(carrier, 1)

        # write_image: normalised RGB planes, float32 (3, H, W).
        rgb = cv2.cvtColor(image, cv2.COLOR_BGR2RGB).astype(np.float32)
        rgb -= self.mean
        rgb *= self.inv_std
        sample = {"image": torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))}
        if self.store:
            if label is not None:
                sample["label"] = torch.from_numpy(carrier[..., 0].astype(np.int64))
            sample["aux"] = torch.from_numpy(np.ascontiguousarray(carrier[..., 1:].transpose(2, 0, 1)))
        elif carrier is not None:
            sample["label"] = torch.from_numpy(carrier.astype(np.int64))
        return sample


def worker_init(_worker_id):
    # loader.cpp: with loader workers, OpenCV runs single-threaded (cv::setNumThreads(1));
    # PyTorch already sets torch's threads to 1 in each worker process.
    cv2.setNumThreads(1)


def make_loader(dataset, args, total_iterations):
    """Endless shuffled epochs: sampler=RandomSampler(...) is what shuffle=True builds, here with
    num_samples spanning all iterations so that no epoch boundary drains the prefetch queue (as
    segtransfer's endless loader; --loader epoch restarts the iterator every epoch instead)."""
    kw = dict(batch_size=args.batch, num_workers=args.workers, pin_memory=False, drop_last=True)
    if args.workers > 0:
        kw.update(persistent_workers=True, worker_init_fn=worker_init,
                  prefetch_factor=max(1, math.ceil(args.prefetch / args.workers)))
    if args.loader == "epoch":
        loader = DataLoader(dataset, shuffle=True, **kw)

        def batches():
            while True:
                yield from loader
        it = batches()
        next_batch = it.__next__
        # The worker processes start on the first next(); peek at them through the loader.
        return loader, next_batch
    generator = torch.Generator()
    generator.manual_seed(args.seed * 1000003 + (1 if args.method == "corte" else 0))
    sampler = RandomSampler(dataset, num_samples=total_iterations * args.batch + args.batch, generator=generator)
    loader = DataLoader(dataset, sampler=sampler, **kw)
    it = iter(loader)  # forks the workers now, before the model exists
    return it, it.__next__


def worker_pids(loader_or_iter):
    it = getattr(loader_or_iter, "_iterator", None) or loader_or_iter  # DataLoader keeps its persistent iterator
    return [w.pid for w in getattr(it, "_workers", [])]


# ----------------------------------------------------------------------------------------
# Model (src/models/lraspp.cpp, src/models/mobilenet_v3.cpp)
# ----------------------------------------------------------------------------------------

def lraspp_mobilenet_v3(num_classes=NUM_CLASSES, large=False):
    """torchvision's _lraspp_mobilenetv3 construction on a dilated MobileNetV3-Small (or -Large):
    low = the 4th stage index from the end (Small: features[2], stride 8, 24 channels), high = the
    last layer (Small: features[12], 576 channels), inter_channels 128."""
    backbone = (mobilenet_v3_large if large else mobilenet_v3_small)(weights=None, dilated=True).features
    stage_indices = [0] + [i for i, b in enumerate(backbone) if getattr(b, "_is_cn", False)] + [len(backbone) - 1]
    low_pos, high_pos = stage_indices[-4], stage_indices[-1]
    low_channels, high_channels = backbone[low_pos].out_channels, backbone[high_pos].out_channels
    backbone = IntermediateLayerGetter(backbone, return_layers={str(low_pos): "low", str(high_pos): "high"})
    return LRASPP(backbone, low_channels, high_channels, num_classes)


def lraspp_mobilenet_v3_small(num_classes=NUM_CLASSES):
    return lraspp_mobilenet_v3(num_classes, large=False)


# segtransfer's model table names (src/models/model.cpp) -> the same network here.
MODELS = {
    "lraspp_mobilenet_v3_small": lambda c: lraspp_mobilenet_v3(c, large=False),
    "lraspp_mobilenet_v3_large": lambda c: lraspp_mobilenet_v3(c, large=True),
    "espnetv2_s1": lambda c: espnetv2(c, width=1.0),  # espnetv2_ref.py, from src/models/espnetv2.cpp
    "espnetv2_s2": lambda c: espnetv2(c, width=2.0),
}


def build_model(name, num_classes=NUM_CLASSES):
    return MODELS[name](num_classes)


def head_parameters(model):
    """SegmentationModel::head_parameters: LR-ASPP's classifier; ESPNetv2's decoder (all but base_net)."""
    if hasattr(model, "head_parameters"):
        return model.head_parameters()
    return list(model.classifier.parameters())


def forward(model, x):
    out = model(x)  # both upsample to the input size
    return out["out"] if isinstance(out, dict) else out  # LRASPP: bilinear, align_corners=False


# ----------------------------------------------------------------------------------------
# Optimisation (src/engine/optimization.cpp)
# ----------------------------------------------------------------------------------------

def make_optimizer(model, args):
    head = head_parameters(model)
    head_ids = {id(p) for p in head}
    backbone = [p for p in model.parameters() if id(p) not in head_ids]
    return torch.optim.AdamW([{"params": backbone, "lr": args.lr}, {"params": head, "lr": args.lr * args.head_lr_mult}],
                             lr=args.lr, betas=(0.9, 0.999), weight_decay=args.weight_decay,
                             foreach=True if args.foreach else None)


def scheduled_lr(args, iteration, progress, warmup_ratio=1e-6, poly_power=1.0, min_lr=0.0):
    lr = (args.lr - min_lr) * (1.0 - min(max(progress, 0.0), 1.0)) ** poly_power + min_lr
    if iteration < args.warmup_iters:
        lr *= 1.0 - (1.0 - iteration / args.warmup_iters) * (1.0 - warmup_ratio)
    return lr


def set_lr(optimizer, args, lr):
    for i, group in enumerate(optimizer.param_groups):
        group["lr"] = lr if i == 0 else lr * args.head_lr_mult


def checked(loss, iteration, what):
    if not torch.isfinite(loss).all().item():  # method.cpp checked_loss
        raise RuntimeError(f"non-finite {what} loss at iteration {iteration}")
    return loss


# ----------------------------------------------------------------------------------------
# source_only step (src/methods/source_only.cpp)
# ----------------------------------------------------------------------------------------

class SourceOnly:
    def __init__(self, model, optimizer):
        self.model, self.optimizer = model, optimizer

    def step(self, batch, iteration, progress):
        logits = forward(self.model, batch["image"])
        loss = checked(F.cross_entropy(logits, batch["label"], ignore_index=IGNORE), iteration, "source cross-entropy")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.item()}


# ----------------------------------------------------------------------------------------
# CoRTe step (src/methods/corte.cpp, src/methods/common/*.cpp)
# ----------------------------------------------------------------------------------------

def gaussian_kernel1d(sigma, size):
    x = torch.arange(size, dtype=torch.float32) - (size - 1) / 2
    k = torch.exp(-(x * x) / (2 * sigma * sigma))
    return k / k.sum()


def blur(image, sigma, size):
    """strong_augment.cpp blur: separable Gaussian of one (3, H, W) image, reflect padding."""
    k = gaussian_kernel1d(sigma, size)
    pad = size // 2
    x = F.pad(image.unsqueeze(0), (pad, pad, pad, pad), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, size).expand(3, 1, 1, size), groups=3)
    x = F.conv2d(x, k.view(1, 1, size, 1).expand(3, 1, size, 1), groups=3)
    return x.squeeze(0)


_GREY = torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)
_MEAN_T = torch.tensor(MEAN).view(3, 1, 1)
_STD_T = torch.tensor(STD).view(3, 1, 1)


@torch.no_grad()
def strong_augment(images, rng, jitter_strength=0.2, jitter_p=0.2, blur_p=0.5):
    """strong_augment.cpp: per sample, colour jitter (brightness, contrast, saturation) with
    probability jitter_p and a Gaussian blur (sigma in [0.15, 1.15], kernel ~10% of the short
    side) with probability blur_p, on the normalised tensors."""
    out = images.clone()
    for i in range(images.shape[0]):
        jitter, do_blur = rng.random() < jitter_p, rng.random() < blur_p
        if not (jitter or do_blur):
            continue
        x = out[i] * _STD_T + _MEAN_T  # 0..255 RGB
        if jitter:
            factor = lambda: 1 + jitter_strength * (2 * rng.random() - 1)  # noqa: E731
            x = x * factor()                                          # brightness
            m = x.mean()
            x = (x - m) * factor() + m                                # contrast
            grey = (x * _GREY).sum(0, keepdim=True)
            x = (x - grey) * factor() + grey                          # saturation
            x = x.clamp(0, 255)
        if do_blur:
            sigma = 0.15 + rng.random()
            size = math.ceil(0.1 * min(x.shape[1], x.shape[2]))
            size = max(3, size - size % 2 + 1)
            if size < min(x.shape[1], x.shape[2]):
                x = blur(x, sigma, size)
        out[i].copy_((x - _MEAN_T) / _STD_T)
    return out


def class_mix_mask(labels, rng):
    """mixing.cpp class_mix_mask: the pixels of a random half (rounded up) of the classes present."""
    classes = [c for c in torch.unique(labels).tolist() if c != IGNORE]
    if not classes:
        return torch.zeros_like(labels, dtype=torch.bool)
    rng.shuffle(classes)
    return torch.isin(labels, torch.tensor(classes[:(len(classes) + 1) // 2]))


def mix_with_next(masks, batch):
    """out[i] = mask[i] ? batch[i] : batch[i + 1 mod B]."""
    m = masks.unsqueeze(1) if batch.dim() == 4 else masks
    return torch.where(m, batch, batch.roll(-1, 0))


class Corte:
    def __init__(self, model, optimizer, thresholds, args):
        self.model, self.optimizer, self.thresholds = model, optimizer, thresholds
        self.seed = args.seed
        self.num_classes = NUM_CLASSES
        self.refine_start, self.refine_min_agreement, self.refine_max_replaced = 0.25, 0.75, 0.2
        self.ema_momentum = 0.999
        # ema.cpp: a copy of the student in eval mode, never trained.
        self.ema = build_model(args.model, self.num_classes)
        if args.channels_last:
            self.ema = self.ema.to(memory_format=torch.channels_last)
        self.ema.load_state_dict(model.state_dict())
        self.ema.eval()
        self.ema.requires_grad_(False)
        self.ema_params, self.ema_buffers = list(self.ema.parameters()), list(self.ema.buffers())
        self.ema_thresholds = torch.zeros(self.num_classes)
        self.agreement = 0.0

    @torch.no_grad()
    def ema_update(self, iteration):
        """ema.cpp: theta_ema <- a theta_ema + (1 - a) theta, a = min(1 - 1/(t + 1), 0.999); buffers copied."""
        a = min(1.0 - 1.0 / (iteration + 1), self.ema_momentum)
        for e, p in zip(self.ema_params, self.model.parameters()):
            e.mul_(a).add_(p.detach(), alpha=1.0 - a)
        for e, b in zip(self.ema_buffers, self.model.buffers()):
            e.copy_(b)

    @torch.no_grad()
    def refine(self, images, labels, bb_conf, progress, stats):
        """Corte::refine: after refine_start, while the EMA agrees with the kept black-box labels
        often enough, take its label where it is more relatively confident (capped per class)."""
        if progress < self.refine_start:
            return labels, 0.0, 0.0
        with torch.inference_mode():
            probs = torch.softmax(forward(self.ema, images), 1)
            top, idx = probs.topk(2, 1)
            ema_label = idx[:, 0]
            ema_conf = top[:, 0] - top[:, 1]
        # Running class-wise mean of the EMA's confidence (its tau^ema_c).
        flat_label = ema_label.flatten()
        sums = torch.zeros(self.num_classes).scatter_add_(0, flat_label, ema_conf.flatten())
        counts = torch.bincount(flat_label, minlength=self.num_classes).float()
        means = sums / counts.clamp_min(1)
        updated = torch.where(self.ema_thresholds == 0, means, 0.99 * self.ema_thresholds + 0.01 * means)
        self.ema_thresholds = torch.where(counts > 0, updated, self.ema_thresholds)

        kept = labels != IGNORE
        kept_pixels = kept.sum().item()
        if kept_pixels > 0:
            agreement = ((ema_label == labels) & kept).sum().item() / kept_pixels
            self.agreement = agreement if self.agreement == 0 else 0.9 * self.agreement + 0.1 * agreement
        stats["ema_agreement"] = self.agreement
        active = self.agreement >= self.refine_min_agreement
        stats["refining"] = 1.0 if active else 0.0
        if not active:
            return labels, 0.0, 0.0

        confident = (ema_conf > bb_conf) & (ema_conf >= self.ema_thresholds[ema_label])
        fill = confident & ~kept
        replace = confident & kept & (ema_label != labels)
        margin = ema_conf - bb_conf
        for c in range(self.num_classes):
            of_class = replace & (labels == c)
            n = of_class.sum().item()
            cap = int(self.refine_max_replaced * (kept & (labels == c)).sum().item())
            if n <= cap:
                continue
            if cap == 0:
                replace &= ~of_class
                continue
            cut = margin.masked_select(of_class).topk(cap).values.min().item()
            replace &= ~(of_class & (margin < cut))
        refined = torch.where(replace | fill, ema_label, labels)
        pixels = float(labels.numel())
        return refined, replace.sum().item() / pixels, fill.sum().item() / pixels

    def step(self, batch, iteration, progress):
        stats = {}
        images, aux = batch["image"], batch["aux"]
        # pseudo_labels.cpp decode_top_k / confidence / filter_by_threshold (weak view).
        k = aux.shape[1] // 2
        classes = aux[:, :k].long()
        probabilities = aux[:, k:].float() / 255.0
        top1 = classes[:, 0]
        bb_conf = probabilities[:, 0] - probabilities[:, 1] if k > 1 else probabilities[:, 0]
        valid = top1 != IGNORE
        tau = self.thresholds[top1.masked_fill(~valid, 0)]
        black_box_labels = top1.masked_fill(~valid | (bb_conf < tau - 1e-6), IGNORE)

        labels, stats["replaced"], stats["filled"] = self.refine(images, black_box_labels, bb_conf, progress, stats)

        # Consistent training: a strong view of a ClassMix of pairs of target images.
        rng = random.Random(self.seed * 0x9E3779B97F4A7C15 + iteration)  # method.cpp step_rng
        masks = torch.stack([class_mix_mask(labels[i], rng) for i in range(labels.shape[0])])
        mixed_images, mixed_labels = mix_with_next(masks, images), mix_with_next(masks, labels)
        logits = forward(self.model, strong_augment(mixed_images, rng))
        # losses.cpp weighted_cross_entropy with kept_share_weight (DACS' per-image weight).
        weight = (mixed_labels != IGNORE).float().mean((1, 2), keepdim=True)
        ce = F.cross_entropy(logits, mixed_labels, ignore_index=IGNORE, reduction="none")
        loss = checked((ce * weight).mean(), iteration, "corte")
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.ema_update(iteration)

        stats["loss"] = loss.item()
        stats["kept"] = (labels != IGNORE).float().mean().item()
        if "label" in batch:  # diagnostics only: the target's ground truth never enters the loss
            truth = batch["label"]
            judged = (labels != IGNORE) & (truth != IGNORE)
            stats["kept_accuracy"] = ((labels == truth) & judged).sum().item() / max(1.0, judged.sum().item())
        return stats


# ----------------------------------------------------------------------------------------
# Main loop and measurement
# ----------------------------------------------------------------------------------------

def vm_field_kib(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def segtransfer_mallopt():
    """runtime.cpp configure_allocator(): the glibc settings segtransfer's main() applies."""
    libc = ctypes.CDLL("libc.so.6")
    m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
    libc.mallopt(m_mmap_threshold, 32 << 20)
    libc.mallopt(m_trim_threshold, 1 << 30)
    libc.mallopt(m_top_pad, 64 << 20)


def parse_size(text):
    w, h = text.lower().split("x")
    return int(w), int(h)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", choices=["source_only", "corte"], required=True)
    p.add_argument("--model", choices=sorted(MODELS), default="lraspp_mobilenet_v3_small",
                   help="segtransfer's model name (model.name); the student and CoRTe's EMA copy")
    p.add_argument("--data", required=True, help="the synth tree (ROOT/source gta5-style, ROOT/target cityscapes-style)")
    p.add_argument("--store", help="prediction store folder (corte)")
    p.add_argument("--iterations", type=int, default=200, help="total iterations (train.iterations)")
    p.add_argument("--warmup", type=int, default=50, help="first iterations left out of the measurement")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=parse_size, default=(192, 128), help="W x H")
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads of the training process")
    p.add_argument("--workers", type=int, default=1, help="DataLoader worker processes")
    p.add_argument("--prefetch", type=int, default=4, help="batches in flight over all workers (train.prefetch)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--head-lr-mult", type=float, default=10.0)
    p.add_argument("--weight-decay", type=float, default=0.01)
    p.add_argument("--warmup-iters", type=int, default=100, help="lr warm-up (optim.warmup_iters)")
    p.add_argument("--log-every", type=int, default=10, help="progress line on stderr every N iterations (0 = off)")
    p.add_argument("--loader", choices=["endless", "epoch"], default="endless",
                   help="endless: one RandomSampler over all iterations; epoch: shuffle=True, restarted per epoch")
    p.add_argument("--channels-last", action="store_true",
                   help="model (and the EMA copy) in torch.channels_last, as segtransfer's train.channels_last")
    p.add_argument("--foreach", action="store_true", help="AdamW(foreach=True) (PyTorch's CPU default is off)")
    p.add_argument("--malloc", choices=["segtransfer", "default"], default="segtransfer",
                   help="segtransfer (default): the glibc mallopt settings segtransfer's main() applies "
                        "(runtime.cpp configure_allocator); default: glibc's own")
    args = p.parse_args()
    if args.method == "corte" and not args.store:
        p.error("--method corte needs --store")
    if not 0 <= args.warmup < args.iterations:
        p.error("need 0 <= --warmup < --iterations")

    if args.malloc == "segtransfer":
        segtransfer_mallopt()
    torch.set_num_threads(args.threads)
    if args.workers > 0:
        cv2.setNumThreads(1)  # process-wide in segtransfer too
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    np.random.seed(args.seed)

    data = Path(args.data)
    if args.method == "source_only":
        files, lut = gta5_files(data / "source", "train")
        dataset = SegDataset(files, lut, args.crop)
    else:
        top_k, store_classes = store_top_k(args.store)
        if store_classes != NUM_CLASSES:
            sys.exit(f"prediction store {args.store} holds {store_classes} classes, the model {NUM_CLASSES}")
        files, lut = cityscapes_files(data / "target", "train", labels=True)  # labels: true (diagnostics)
        dataset = SegDataset(files, lut, args.crop, store=args.store)
    loader, next_batch = make_loader(dataset, args, args.iterations)

    model = build_model(args.model, NUM_CLASSES)
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    model.train()
    optimizer = make_optimizer(model, args)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model {args.model} (torchvision {torchvision.__version__}): {n_params} parameters; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.workers} loader worker(s)",
          file=sys.stderr)
    if args.method == "source_only":
        method = SourceOnly(model, optimizer)
    else:
        t0 = time.perf_counter()
        thresholds = corte_thresholds([s for _, _, s in files], args.store, NUM_CLASSES)
        print(f"per-class thresholds over {len(files)} target images ({time.perf_counter() - t0:.1f}s): "
              f"{[round(t, 3) for t in thresholds.tolist()]}", file=sys.stderr)
        method = Corte(model, optimizer, thresholds, args)

    wait = 0.0
    measure_start = None
    stats = {}
    for iteration in range(args.iterations):
        if iteration == args.warmup:
            measure_start, wait = time.perf_counter(), 0.0
        t0 = time.perf_counter()
        batch = next_batch()
        wait += time.perf_counter() - t0
        progress = iteration / args.iterations
        set_lr(optimizer, args, scheduled_lr(args, iteration, progress))
        stats = method.step(batch, iteration, progress)
        if args.log_every > 0 and (iteration + 1) % args.log_every == 0:
            print(f"[it {iteration + 1}/{args.iterations}] " +
                  "  ".join(f"{k} {v:.4f}" for k, v in sorted(stats.items())), file=sys.stderr)
    seconds = time.perf_counter() - measure_start
    measured = args.iterations - args.warmup

    main_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    pids = worker_pids(loader)
    worker_peaks = [vm_field_kib(pid, "VmHWM") / 1024.0 for pid in pids]
    worker_pss = [pss_kib(pid) / 1024.0 for pid in pids]
    result = {
        "method": args.method,
        "model": args.model,
        "images_per_s": measured * args.batch / seconds,
        "data_wait_share": wait / seconds,
        "peak_rss_mib": main_peak + sum(worker_peaks),
        "iterations": args.iterations,
        "threads": args.threads,
        "measured_iterations": measured,
        "seconds": seconds,
        "main_peak_rss_mib": main_peak,
        "worker_peak_rss_mib": worker_peaks,
        "worker_pss_at_exit_mib": worker_pss,
        "peak_rss_note": "main ru_maxrss + sum of workers' VmHWM; forked workers' shared pages are counted in both",
        "workers": args.workers,
        "batch": args.batch,
        "crop": list(args.crop),
        "parameters": n_params,
        "last_step": stats,
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "loader": args.loader,
        "channels_last": args.channels_last,
        "malloc": args.malloc,
    }
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
