cimport cython

cdef int _TOP, _CHOICE, _DELTA, _TOOL_CALL, _FUNCTION
cdef int _CH_MISSING, _CH_NULL, _CH_EMPTY, _CH_ITEMS, _CH_OTHER

@cython.locals(c=cython.uchar)
cdef Py_ssize_t _ws(bytes b, Py_ssize_t i, Py_ssize_t n) noexcept
@cython.locals(k=Py_ssize_t, m=Py_ssize_t)
cdef bint _eq(bytes b, Py_ssize_t s, bytes lit) noexcept
@cython.locals(c=cython.uchar)
cdef Py_ssize_t _str_end(bytes b, Py_ssize_t i, Py_ssize_t n) noexcept
@cython.locals(c=cython.uchar, depth=Py_ssize_t, start=Py_ssize_t)
cdef Py_ssize_t _skip(bytes b, Py_ssize_t i, Py_ssize_t n) noexcept


cdef class ChunkScan:
    cdef public Py_ssize_t text_bytes
    cdef public object finish_reason
    cdef bytes _finish_raw
    # results of the last scan
    cdef public Py_ssize_t obj_s, model_s, model_e, choices_s, choices_e
    cdef public Py_ssize_t usage_s, usage_e, nkeys, delta_ins
    cdef public int choices
    cdef public bint has_error, delta_empty, delta_role
    # the repeated-prefix shortcut
    cdef bytes _prefix
    cdef Py_ssize_t _pre_nkeys, _pre_model_s, _pre_model_e, _pre_obj_s
    cdef Py_ssize_t _resume, _nkeys_at_resume, _model_s_at_resume, _model_e_at_resume

    cpdef Py_ssize_t scan(self, bytes b, Py_ssize_t i, Py_ssize_t n) except? -2
    cdef Py_ssize_t _object(self, bytes b, Py_ssize_t i, Py_ssize_t n, int level,
                            bint first) except? -2
    @cython.locals(ks=Py_ssize_t, klen=Py_ssize_t, vs=Py_ssize_t, j=Py_ssize_t, c=cython.uchar)
    cdef Py_ssize_t _members(self, bytes b, Py_ssize_t i, Py_ssize_t n, int level,
                             bint first) except? -2
    @cython.locals(c=cython.uchar, first=bint)
    cdef Py_ssize_t _array(self, bytes b, Py_ssize_t i, Py_ssize_t n, int level) except? -2
    @cython.locals(c=cython.uchar, start=Py_ssize_t, adj=Py_ssize_t)
    cdef Py_ssize_t _text(self, bytes b, Py_ssize_t i, Py_ssize_t n) noexcept
    @cython.locals(raw=bytes)
    cdef _set_finish(self, bytes b, Py_ssize_t s, Py_ssize_t e)
