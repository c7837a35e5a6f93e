// The Python module impasto._C: importing it registers torch.ops.impasto.* (the TORCH_LIBRARY
// blocks of every op folder run at load time). It has no Python functions of its own.
#include <Python.h>
#include <torch/library.h>

namespace impasto {
namespace {

bool built_with_cuda() {
#ifdef IMPASTO_WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace

TORCH_LIBRARY(impasto, m) {
  m.def("_built_with_cuda() -> bool", &built_with_cuda);
}

}  // namespace impasto

static PyModuleDef impasto_c_module = {PyModuleDef_HEAD_INIT, "_C",
                                       "impasto's compiled ops; use them through impasto.ops", -1, nullptr};

PyMODINIT_FUNC PyInit__C(void) { return PyModule_Create(&impasto_c_module); }
