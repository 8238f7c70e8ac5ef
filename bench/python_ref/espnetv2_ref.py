"""ESPNetv2 for segmentation in plain PyTorch, written module by module from segtransfer's
C++ port (src/models/espnetv2.{h,cpp}), with the same module layout and parameter names, so
that the speed peer in train_ref.py trains the same network. Not EdgeNets' code: a
re-statement of ours (EESP units, strided EESP with input reinforcement, EfficientPyrPool,
EfficientPWConv, PReLU everywhere, channel shuffle).

    model = espnetv2(num_classes=19, width=2.0)   # espnetv2_s2; width=1.0 is espnetv2_s1
    logits = model(x)                              # N x classes x H x W (input size)
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

PYRAMID_SCALES = (2.0, 1.5, 1.0, 0.5, 0.1)  # largest first
REINFORCEMENT_CHANNELS = 3
BRANCHES = 4


def conv(cin, cout, kernel, stride=1, groups=1, dilation=1):
    """Bias-free convolution with padding (kernel - 1) / 2 * dilation."""
    return nn.Conv2d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2 * dilation,
                     dilation=dilation, groups=groups, bias=False)


def resize(x, height, width):
    return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=True)


def pool_image(image):
    return F.avg_pool2d(image, 3, 2, 1)


class CBR(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = conv(cin, cout, kernel, stride, groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.PReLU(cout)

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


class CB(nn.Module):
    def __init__(self, cin, cout, kernel, stride=1, groups=1):
        super().__init__()
        self.conv = conv(cin, cout, kernel, stride, groups)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x):
        return self.bn(self.conv(x))


class BR(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)
        self.act = nn.PReLU(channels)

    def forward(self, x):
        return self.act(self.bn(x))


class CDilated(nn.Module):
    def __init__(self, channels, stride, dilation):
        super().__init__()
        self.conv = conv(channels, channels, 3, stride, channels, dilation)

    def forward(self, x):
        return self.conv(x)


class EESP(nn.Module):
    def __init__(self, cin, cout, stride, branches, receptive_limit):
        super().__init__()
        n = cout // branches
        if n * branches != cout:
            raise ValueError(f"EESP: {cout} outputs do not split into {branches} branches")
        self.stride = stride
        self.proj_1x1 = CBR(cin, n, 1, 1, branches)
        sizes = sorted(3 + 2 * i if 3 + 2 * i <= receptive_limit else 3 for i in range(branches))
        self.spp_dw = nn.ModuleList(CDilated(n, stride, (s - 1) // 2) for s in sizes)
        self.conv_1x1_exp = CB(cout, cout, 1, 1, branches)
        self.br_after_cat = BR(cout)
        self.module_act = nn.PReLU(cout)

    def forward(self, x):
        reduced = self.proj_1x1(x)
        outputs = [self.spp_dw[0](reduced)]
        for k in range(1, len(self.spp_dw)):
            outputs.append(self.spp_dw[k](reduced) + outputs[-1])
        expanded = self.conv_1x1_exp(self.br_after_cat(torch.cat(outputs, 1)))
        if self.stride == 2:
            return expanded
        if expanded.shape == x.shape:
            expanded = expanded + x
        return self.module_act(expanded)


class DownSampler(nn.Module):
    def __init__(self, cin, cout, branches, receptive_limit):
        super().__init__()
        self.eesp = EESP(cin, cout - cin, 2, branches, receptive_limit)
        self.inp_reinf = nn.Sequential(CBR(3, REINFORCEMENT_CHANNELS, 3, 1), CB(REINFORCEMENT_CHANNELS, cout, 1, 1))
        self.act = nn.PReLU(cout)

    def forward(self, x, image):
        pooled = F.avg_pool2d(x, 3, 2, 1)
        out = torch.cat([pooled, self.eesp(x)], 1)
        return self.act(out + self.inp_reinf(image))


def decoder_br(channels):
    return nn.Sequential(nn.BatchNorm2d(channels), nn.PReLU(channels))


class DecoderBR(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.br = decoder_br(channels)

    def forward(self, x):
        return self.br(x)


class DecoderCBR(nn.Module):
    def __init__(self, cin, cout, kernel, groups=1):
        super().__init__()
        self.cbr = nn.Sequential(conv(cin, cout, kernel, 1, groups), nn.BatchNorm2d(cout), nn.PReLU(cout))

    def forward(self, x):
        return self.cbr(x)


class Shuffle(nn.Module):
    def __init__(self, groups):
        super().__init__()
        self.groups = groups

    def forward(self, x):
        n, c, h, w = x.shape
        return x.reshape(n, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(n, c, h, w)


class EfficientPyrPool(nn.Module):
    def __init__(self, cin, proj, cout, last_layer_br=True):
        super().__init__()
        levels = len(PYRAMID_SCALES)
        self.projection_layer = DecoderCBR(cin, proj, 1)
        self.stages = nn.ModuleList(conv(proj, proj, 3, 1, proj) for _ in range(levels))
        self.merge_layer = nn.Sequential(DecoderBR(proj * levels), Shuffle(levels),
                                         DecoderCBR(proj * levels, proj, 3, proj),
                                         nn.Conv2d(proj, cout, 1, bias=not last_layer_br))
        self.br = DecoderBR(cout) if last_layer_br else None

    def forward(self, x):
        x = self.projection_layer(x)
        height, width = x.shape[2], x.shape[3]
        levels = []
        for stage, scale in zip(self.stages, PYRAMID_SCALES):
            h = max(int(math.ceil(height * scale)), 5)
            w = max(int(math.ceil(width * scale)), 5)
            if scale < 1.0:
                levels.append(resize(stage(F.adaptive_avg_pool2d(x, (h, w))), height, width))
            elif scale > 1.0:
                levels.append(F.adaptive_avg_pool2d(stage(resize(x, h, w)), (height, width)))
            else:
                levels.append(stage(x))
        out = self.merge_layer(torch.cat(levels, 1))
        return self.br(out) if self.br is not None else out


class EfficientPWConv(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.wt_layer = nn.Sequential(nn.AdaptiveAvgPool2d(1), conv(cin, cout, 1), nn.Sigmoid())
        self.expansion_layer = DecoderCBR(cin, cout, 3, math.gcd(cin, cout))

    def forward(self, x):
        return self.expansion_layer(x) * self.wt_layer(x)


LEVEL_CHANNELS = {0.5: (16, 32, 64, 128), 1.0: (32, 64, 128, 256), 1.5: (32, 96, 192, 384), 2.0: (32, 128, 256, 512)}


class EESPNet(nn.Module):
    """Levels 1-4 (level 5 and the classifier are not built)."""

    def __init__(self, c):
        super().__init__()
        self.level1 = CBR(3, c[0], 3, 2)
        self.level2_0 = DownSampler(c[0], c[1], BRANCHES, 13)
        self.level3_0 = DownSampler(c[1], c[2], BRANCHES, 11)
        self.level3 = nn.Sequential(*[EESP(c[2], c[2], 1, BRANCHES, 9) for _ in range(3)])
        self.level4_0 = DownSampler(c[2], c[3], BRANCHES, 9)
        self.level4 = nn.Sequential(*[EESP(c[3], c[3], 1, BRANCHES, 7) for _ in range(7)])

    def forward(self, x):
        l1 = self.level1(x)
        image = pool_image(pool_image(x))
        l2 = self.level2_0(l1, image)
        image = pool_image(image)
        l3 = self.level3(self.level3_0(l2, image))
        image = pool_image(image)
        l4 = self.level4(self.level4_0(l3, image))
        return l1, l2, l3, l4


class ESPNetv2(nn.Module):
    def __init__(self, num_classes, width=1.0, decoder_planes=16):
        super().__init__()
        if width not in LEVEL_CHANNELS:
            raise ValueError(f"width must be one of {sorted(LEVEL_CHANNELS)}")
        c = LEVEL_CHANNELS[width]
        base = decoder_planes
        dec = (4 * base, 3 * base, 2 * base)
        proj = min(num_classes // 2, base)
        self.base_net = EESPNet(c)
        self.bu_dec_l1 = EfficientPyrPool(c[3], proj, dec[0])
        self.bu_dec_l2 = EfficientPyrPool(dec[0], proj, dec[1])
        self.bu_dec_l3 = EfficientPyrPool(dec[1], proj, dec[2])
        self.bu_dec_l4 = EfficientPyrPool(dec[2], proj, num_classes, last_layer_br=False)
        self.merge_enc_dec_l2 = EfficientPWConv(c[2], dec[0])
        self.merge_enc_dec_l3 = EfficientPWConv(c[1], dec[1])
        self.merge_enc_dec_l4 = EfficientPWConv(c[0], dec[2])
        self.bu_br_l2 = decoder_br(dec[0])
        self.bu_br_l3 = decoder_br(dec[1])
        self.bu_br_l4 = decoder_br(dec[2])
        for m in self.modules():  # init_params: Kaiming-normal (fan out), biases zero
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def head_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith("base_net.")]

    def forward(self, x):
        l1, l2, l3, l4 = self.base_net(x)
        bu = self.bu_dec_l1(l4)
        bu = self.bu_dec_l2(self.bu_br_l2(self.merge_enc_dec_l2(l3) + resize(bu, l3.shape[2], l3.shape[3])))
        bu = self.bu_dec_l3(self.bu_br_l3(self.merge_enc_dec_l3(l2) + resize(bu, l2.shape[2], l2.shape[3])))
        bu = self.bu_dec_l4(self.bu_br_l4(self.merge_enc_dec_l4(l1) + resize(bu, l1.shape[2], l1.shape[3])))
        return resize(bu, x.shape[2], x.shape[3])


def espnetv2(num_classes=19, width=1.0):
    return ESPNetv2(num_classes, width)


if __name__ == "__main__":
    for name, width in (("espnetv2_s1", 1.0), ("espnetv2_s2", 2.0)):
        m = espnetv2(19, width)
        print(name, sum(p.numel() for p in m.parameters()), m(torch.randn(2, 3, 176, 240)).shape)
