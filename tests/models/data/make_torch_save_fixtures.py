#!/usr/bin/env python3
"""Writes the torch.save fixtures of tests/models/weight_import_test.cpp without
needing torch: the pickle streams are produced by Python's own pickler from
stand-ins registered under torch's module names, so they carry exactly the
opcodes torch.save emits for `model.state_dict()` (an OrderedDict with a
_metadata attribute, _rebuild_tensor_v2 calls, persistent storage ids), laid
out as torch/serialization.py does in its zip and legacy formats.

Run from this directory: python3 make_torch_save_fixtures.py
"""
import argparse
import collections
import io
import pickle
import struct
import sys
import types
import zipfile

torch = types.ModuleType("torch")
torch_cuda = types.ModuleType("torch.cuda")
torch_utils = types.ModuleType("torch._utils")
sys.modules.update({"torch": torch, "torch.cuda": torch_cuda, "torch._utils": torch_utils})
torch.cuda = torch_cuda


def _storage_class(module, name):
    cls = type(name, (), {})
    cls.__module__ = module.__name__
    setattr(module, name, cls)
    return cls


FloatStorage, LongStorage = _storage_class(torch, "FloatStorage"), _storage_class(torch, "LongStorage")
# Legacy files written from a GPU model name CUDA storage types.
CudaFloatStorage, CudaLongStorage = _storage_class(torch_cuda, "FloatStorage"), _storage_class(torch_cuda, "LongStorage")


def _rebuild_tensor_v2(*args):
    raise NotImplementedError


_rebuild_tensor_v2.__module__ = "torch._utils"
torch_utils._rebuild_tensor_v2 = _rebuild_tensor_v2


class Storage:
    def __init__(self, storage_type, fmt, values):
        self.storage_type, self.fmt, self.values = storage_type, fmt, values

    def raw(self):
        return struct.pack("<%d%s" % (len(self.values), self.fmt), *self.values)


class Tensor:
    def __init__(self, storage, offset, size, stride):
        self.args = (storage, offset, tuple(size), tuple(stride))

    def __reduce_ex__(self, protocol):
        return (_rebuild_tensor_v2, self.args + (False, collections.OrderedDict()))


def state_dict(prefix="", cuda=False):
    float_type, long_type = (CudaFloatStorage, CudaLongStorage) if cuda else (FloatStorage, LongStorage)
    floats = Storage(float_type, "f", [9.0, 0.25, 0.5])
    sd = collections.OrderedDict()
    sd[prefix + "conv.weight"] = Tensor(Storage(float_type, "f", [1.5, -2.0]), 0, (2, 1, 1, 1), (1, 1, 1, 1))
    sd[prefix + "bn.running_mean"] = Tensor(floats, 1, (2,), (1,))  # a view at storage offset 1
    sd[prefix + "bn.num_batches_tracked"] = Tensor(Storage(long_type, "q", [7]), 0, (), ())
    # Non-contiguous: the transpose of [[0, 1], [2, 3], [4, 5]].
    sd[prefix + "fc.weight"] = Tensor(Storage(float_type, "f", [0, 1, 2, 3, 4, 5]), 0, (2, 3), (1, 2))
    sd._metadata = collections.OrderedDict([("", {"version": 1}), ("bn", {"version": 2})])
    return sd


def pickle_with_storages(obj, protocol=2, legacy=False):
    storages, keys = {}, {}

    def persistent_id(o):
        if not isinstance(o, Storage):
            return None
        key = keys.setdefault(id(o), str(len(keys)) if not legacy else str(140000000 + len(keys)))
        storages[key] = o
        location = "cuda:0" if o.storage_type.__module__ == "torch.cuda" else "cpu"
        pid = ("storage", o.storage_type, key, location, len(o.values))
        return pid + (None,) if legacy else pid

    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=protocol)
    pickler.persistent_id = persistent_id
    pickler.dump(obj)
    return buf.getvalue(), storages


def save_zip(obj, path):
    data, storages = pickle_with_storages(obj)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", data)
        z.writestr("archive/byteorder", "little")
        for key in sorted(storages):
            z.writestr("archive/data/" + key, storages[key].raw())
        z.writestr("archive/version", "3\n")


def save_legacy(obj, path):
    with open(path, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001,
                       dict(protocol_version=1001, little_endian=True, type_sizes=dict(short=2, int=4, long=4))):
            pickle.dump(header, f, protocol=2)
        data, storages = pickle_with_storages(obj, legacy=True)
        f.write(data)
        keys = sorted(storages)
        pickle.dump(keys, f, protocol=2)
        for key in keys:
            f.write(struct.pack("<q", len(storages[key].values)) + storages[key].raw())


if __name__ == "__main__":
    save_zip(state_dict(), "python_zip_state_dict.pth")
    save_legacy(state_dict(cuda=True), "python_legacy_state_dict.pth")
    # A training checkpoint of a DataParallel model, with objects the reader does not know.
    save_zip({"epoch": 3, "best_miou": 0.5, "args": argparse.Namespace(lr=0.01, steps=[1, 2]),
              "state_dict": state_dict("module.")}, "python_zip_checkpoint.pth")
