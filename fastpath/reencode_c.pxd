cimport cython
from edge.fastpath._chunkscan_c cimport ChunkScan

cdef Py_ssize_t _DEFAULT_MAX
cdef int _CH_MISSING, _CH_NULL, _CH_EMPTY, _CH_ITEMS, _CH_OTHER


cdef class OpenAIStreamRewriter:
    cdef readonly str public_model
    cdef readonly bint include_usage
    cdef readonly Py_ssize_t max_event_bytes
    cdef readonly object usage
    cdef readonly bint done
    cdef readonly object error
    cdef readonly object finish_reason
    cdef readonly Py_ssize_t chunks
    cdef readonly Py_ssize_t malformed
    cdef readonly Py_ssize_t text_bytes
    cdef readonly bint role_seen
    cdef bytes _model_json
    cdef object _sse
    cdef ChunkScan _js

    @cython.locals(events=list, out=list)
    cpdef bytes feed(self, bytes chunk)
    @cython.locals(out=list)
    cpdef bytes flush(self)
    @cython.locals(n=Py_ssize_t, i=Py_ssize_t, multi=bint, items=bint, us=Py_ssize_t,
                   ue=Py_ssize_t, ms=Py_ssize_t, me=Py_ssize_t, mj=bytes, drop_usage=bint,
                   edit_model=bint, add_role=bint, ok=bint, js=ChunkScan,
                   c=cython.uchar)
    cdef _event(self, bytes b, list out)
    @cython.locals(edits=list, head=list, parts=list, cur=Py_ssize_t, text=bytes, js=ChunkScan)
    cdef bytes _splice(self, bytes b, bint edit_model, bint add_role, bint drop_usage)
    cdef _emit(self, bytes b, bint multi, list out)
