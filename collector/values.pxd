# C types for the compiled build of values.py (see decode.pxd).
import cython


@cython.locals(klen=Py_ssize_t, v=Py_ssize_t, vlen=Py_ssize_t, a=Py_ssize_t, slen=Py_ssize_t)
cdef tuple _scalar_pair(bytes buf, Py_ssize_t start, Py_ssize_t stop)

cpdef tuple decode_pair(bytes buf, Py_ssize_t start, Py_ssize_t stop)
