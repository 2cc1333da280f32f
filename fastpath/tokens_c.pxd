cimport cython

cdef int _C_SPACE, _C_NEWLINE, _C_LETTER, _C_DIGIT, _C_PUNCT, _C_XLETTER, _C_CJK, _C_OTHER
cdef double _W_WORD, _W_LETTER, _W_XWORD, _W_XLETTER, _W_LONG, _W_DIGITS, _W_PUNCT
cdef double _W_PUNCT_RUN, _W_NEWLINE, _W_INDENT, _W_CJK, _W_OTHER, _BYTES_PER_TOKEN
cdef Py_ssize_t _MSG_OVERHEAD, _NAME_OVERHEAD, _REPLY_PRIMING, _IMAGE_LOW, _IMAGE_HIGH
cdef Py_ssize_t _OPAQUE_PART, _PIECE

@cython.locals(code=Py_UCS4)
cdef int _classify(Py_UCS4 ch) noexcept

@cython.locals(words=Py_ssize_t, letters=Py_ssize_t, xwords=Py_ssize_t, xletters=Py_ssize_t,
               longs=Py_ssize_t, digits=Py_ssize_t, punct=Py_ssize_t, punct_runs=Py_ssize_t,
               newlines=Py_ssize_t, indents=Py_ssize_t, cjk=Py_ssize_t, other=Py_ssize_t,
               prev=int, run=Py_ssize_t, word_x=bint, lower=bint, ch=Py_UCS4, code=Py_UCS4,
               cls=int, isx=bint, hump=bint, same=bint)
cpdef list _features(str text)

@cython.locals(f=list, est=double)
cpdef Py_ssize_t estimate_tokens(str text) except -1

@cython.locals(total=Py_ssize_t)
cdef Py_ssize_t _payload_bytes(dict part) except -1

@cython.locals(payload=Py_ssize_t, flat=Py_ssize_t, low=bint)
cpdef Py_ssize_t estimate_body_tokens(object messages, Py_ssize_t body_size) except -1
