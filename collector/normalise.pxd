# C types for the compiled build of normalise.py (see decode.pxd).
cdef Py_ssize_t _OP, _OI_KIND, _REQ_TYPE, _MARKER, _OPERATION, _CACHE_HIT, _SERVER, _API_BASE
cdef Py_ssize_t _SOURCE, _USAGE_SOURCE, _IN, _OUT, _STATUS, _ERROR_TYPE, _ERROR_TYPE_IN

cpdef str operation(list slots)
cpdef str finish_row(list slots, bint status_error)
