cimport cython

cdef bytes _BOM
cdef Py_ssize_t _DEFAULT_MAX


cdef class SSEEvent:
    cdef public str event
    cdef public bytes data
    cdef public object id
    cdef public object retry


cdef class SSEDecoder:
    cdef readonly Py_ssize_t max_event_bytes
    cdef readonly bint data_only
    cdef public object last_event_id
    cdef public object retry
    cdef list _tail
    cdef Py_ssize_t _tail_len
    cdef bint _skip_lf
    cdef bint _at_start
    cdef bytes _head
    cdef list _data
    cdef Py_ssize_t _data_len
    cdef bint _has_data
    cdef str _event
    cdef object _event_retry

    @cython.locals(lines=list, last=cython.uchar, complete=bint, count=Py_ssize_t,
                   k=Py_ssize_t, line=bytes)
    cpdef list feed(self, bytes chunk)
    cpdef list flush(self)
    cdef bytes _strip_bom(self, bytes chunk)
    cdef void _reset_event(self)
    @cython.locals(n=Py_ssize_t, colon=Py_ssize_t, start=Py_ssize_t, name=bytes, value=bytes,
                   data=bytes, ev=SSEEvent)
    cdef void _line(self, bytes line, list events)
