# C types for the compiled build of decode.py (setup.py compiles it with Cython when a C compiler
# is at hand). decode.py stays plain Python and runs as such without one: same rows either way.
import cython


cdef class _Chain:
    cdef public bytes raw
    cdef public tuple head, pairs, tags, assigns
    cdef public frozenset keyset
    cdef public Py_ssize_t nkeys
    cdef public str text
    cdef public list slots, prios


@cython.locals(pos=Py_ssize_t, s=Py_ssize_t, field_start=Py_ssize_t, learn_from=Py_ssize_t,
               chained=Py_ssize_t, max_pair=Py_ssize_t, length=cython.ulonglong, tag=cython.ulonglong,
               number=cython.ulonglong, wire_type=cython.int, fresh=cython.bint, slot=Py_ssize_t,
               priority=Py_ssize_t, entries=dict, chains=dict, chain=_Chain, raw=bytes, entry=tuple,
               head=tuple, learnt=list, members=list, keys=list, keysets=list, tags=list, slots=list,
               prios=list, events=list, links=list, h=tuple)
cdef str _span(list span_flat, list llm_flat, bytes buf, Py_ssize_t start, Py_ssize_t stop, service,
               str resource_json, tuple scope, bint cached)


@cython.locals(pos=Py_ssize_t, s=Py_ssize_t, length=cython.ulonglong, spans=list)
cdef tuple _scope_spans(bytes buf, Py_ssize_t start, Py_ssize_t stop)
