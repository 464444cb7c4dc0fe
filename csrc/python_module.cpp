// The empty Python module linreg_ext._C. Importing it loads this shared library, whose static
// initializers register the ops; the ops themselves need no Python. Only setup.py compiles this
// file, so the CMake op library for the C++ app never depends on libpython.
#include <Python.h>

extern "C" PyObject* PyInit__C(void) {
  static struct PyModuleDef module_def = {
      PyModuleDef_HEAD_INIT,
      "_C",  // name
      "linreg_ext operator library (ops are registered on import)",
      -1,  // per-interpreter state size
      nullptr,
  };
  return PyModule_Create(&module_def);
}
