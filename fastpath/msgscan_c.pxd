cimport cython

cdef Py_ssize_t _DEFAULT_MAX
cdef int _START, _DELTA, _STOP, _ERROR, _UNNAMED

cdef bint _COMPILED

@cython.locals(q=Py_ssize_t)
cdef bint _name(bytes b, Py_ssize_t p, bytes name) except -1
cdef Py_ssize_t _end(bytes b, Py_ssize_t i, Py_ssize_t n) noexcept
@cython.locals(last=Py_ssize_t)
cdef Py_ssize_t _find(bytes b, bytes lit, Py_ssize_t s, Py_ssize_t e) except? -2
cdef Py_ssize_t _last_quote(bytes b, Py_ssize_t s, Py_ssize_t e) except? -2
@cython.locals(k=Py_ssize_t)
cdef Py_ssize_t _backslashes(bytes b, Py_ssize_t s, Py_ssize_t e) except? -2


cdef class MessagesScanner:
    cdef readonly Py_ssize_t max_event_bytes
    cdef public list marks
    cdef readonly Py_ssize_t events, reads, text_bytes
    cdef bytes _held
    cdef Py_ssize_t _resume

    @cython.locals(buf=bytes, i=Py_ssize_t, n=Py_ssize_t, start=Py_ssize_t, end=Py_ssize_t,
                   lf=Py_ssize_t, cr=Py_ssize_t)
    cpdef bytes feed(self, bytes chunk)
    @cython.locals(rest=bytes)
    cpdef bytes flush(self)
    @cython.locals(p=Py_ssize_t)
    cdef _event(self, bytes b, Py_ssize_t s, Py_ssize_t e)
    @cython.locals(q=Py_ssize_t, z=Py_ssize_t)
    cdef _text(self, bytes b, Py_ssize_t s, Py_ssize_t e)
