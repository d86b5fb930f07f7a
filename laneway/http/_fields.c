/* The fields of a server's response head, read in one pass (the C twin of
 * laneway.http.response_head.read_response_head_python; see that module for why it exists).
 * llhttp has checked the head before it comes here: no bare CR or LF, no space before a colon. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

enum kind { OTHER, DROP, CONTENT_LENGTH, CONNECTION, TRANSFER_ENCODING, UPGRADE };

/* Whether the n bytes at s, in lower case, are the n bytes of lower. */
static int
same_lower(const char *s, const char *lower, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c + ('a' - 'A'));
        if (c != lower[i])
            return 0;
    }
    return 1;
}

/* What laneway does with a field of this name: reads it, drops it, or copies it through. */
static enum kind
kind_of(const char *name, Py_ssize_t n)
{
    switch (n) {
    case 2:
        return same_lower(name, "te", 2) ? DROP : OTHER;
    case 7:
        if (same_lower(name, "trailer", 7))
            return DROP;
        return same_lower(name, "upgrade", 7) ? UPGRADE : OTHER;
    case 10:
        if (same_lower(name, "connection", 10))
            return CONNECTION;
        return same_lower(name, "keep-alive", 10) ? DROP : OTHER;
    case 14:
        return same_lower(name, "content-length", 14) ? CONTENT_LENGTH : OTHER;
    case 16:
        return same_lower(name, "proxy-connection", 16) ? DROP : OTHER;
    case 17:
        return same_lower(name, "transfer-encoding", 17) ? TRANSFER_ENCODING : OTHER;
    case 18:
        return same_lower(name, "proxy-authenticate", 18) ? DROP : OTHER;
    case 19:
        return same_lower(name, "proxy-authorization", 19) ? DROP : OTHER;
    default:
        return OTHER;
    }
}

static void
strip_blanks(const char **start, const char **end)
{
    while (*start < *end && (**start == ' ' || **start == '\t'))
        (*start)++;
    while (*end > *start && ((*end)[-1] == ' ' || (*end)[-1] == '\t'))
        (*end)--;
}

/* Whether every comma-separated token of a Connection value is close, keep-alive, upgrade
 * or empty: then it names no other field to drop. Tokens are stripped of all ASCII
 * whitespace, as bytes.strip() does. */
static int
names_nothing(const char *start, const char *end)
{
    while (start <= end) {
        const char *comma = memchr(start, ',', (size_t)(end - start));
        const char *token_end = comma ? comma : end;
        const char *s = start, *e = token_end;
        while (s < e && (*s == ' ' || (*s >= '\t' && *s <= '\r')))
            s++;
        while (e > s && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
            e--;
        Py_ssize_t n = e - s;
        if (!(n == 0 || (n == 5 && same_lower(s, "close", 5)) || (n == 10 && same_lower(s, "keep-alive", 10))
              || (n == 7 && same_lower(s, "upgrade", 7))))
            return 0;
        if (!comma)
            break;
        start = comma + 1;
    }
    return 1;
}

/* A new bytes object of the n bytes at s in lower case. The Content-Length value is returned
 * as the Python version reads it, in lower case (digits, once llhttp has checked it).
 * Allocated empty and then filled: PyBytes_FromStringAndSize(s, 1) returns CPython's shared
 * object for that byte, which must never be written to. */
static PyObject *
lower_copy(const char *s, Py_ssize_t n)
{
    if (n == 0)
        return PyBytes_FromStringAndSize(NULL, 0);
    PyObject *copy = PyBytes_FromStringAndSize(NULL, n);
    if (copy == NULL)
        return NULL;
    char *out = PyBytes_AS_STRING(copy);
    for (Py_ssize_t i = 0; i < n; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + ('a' - 'A')) : s[i];
    return copy;
}

static PyObject *
read_response_head(PyObject *Py_UNUSED(module), PyObject *head)
{
    if (!PyBytes_Check(head)) {
        PyErr_SetString(PyExc_TypeError, "read_response_head() takes bytes");
        return NULL;
    }
    const char *data = PyBytes_AS_STRING(head);
    Py_ssize_t size = PyBytes_GET_SIZE(head);
    /* The fields: from the status line's CRLF to just before the final CRLF CRLF. */
    const char *status_end = size >= 2 ? memchr(data, '\r', (size_t)size) : NULL;
    while (status_end && !(status_end + 1 < data + size && status_end[1] == '\n'))
        status_end = memchr(status_end + 1, '\r', (size_t)(data + size - status_end - 1));
    if (!status_end || size < 4 || status_end > data + size - 4)
        Py_RETURN_NONE; /* not a head laneway parsed: the Python version says what it is */
    const char *fields = status_end, *fields_end = data + size - 4;

    const char *length_start = NULL, *length_end = NULL, *upgrade_start = NULL, *upgrade_end = NULL;
    int chunked = 0;
    /* The kept lines are copied into out, allocated once a line is dropped. */
    char *out = NULL;
    PyObject *kept = NULL;
    const char *copied_up_to = fields;

    const char *line = fields;
    while (line < fields_end) {
        /* line points at the CRLF that begins a field line (llhttp allows no bare CR). */
        if (line + 1 >= fields_end || line[1] != '\n') {
            Py_XDECREF(kept);
            Py_RETURN_NONE;
        }
        const char *name = line + 2;
        const char *line_end = memchr(name, '\r', (size_t)(fields_end - name));
        if (!line_end)
            line_end = fields_end;
        const char *colon = memchr(name, ':', (size_t)(line_end - name));
        enum kind kind = colon ? kind_of(name, colon - name) : OTHER;
        if (kind != OTHER) {
            const char *value = colon + 1, *value_end = line_end;
            strip_blanks(&value, &value_end);
            if (kind == CONTENT_LENGTH) {
                length_start = value;
                length_end = value_end;
            } else if (kind == CONNECTION) {
                if (!names_nothing(colon + 1, line_end)) {
                    Py_XDECREF(kept);
                    Py_RETURN_NONE; /* names fields to drop: rare, left to the Python version */
                }
            } else if (kind == TRANSFER_ENCODING) {
                /* chunked alone, once, with no tab (which llhttp would not strip): anything
                   else is refused, by the Python version. */
                if (chunked || value_end - value != 7 || !same_lower(value, "chunked", 7)
                        || memchr(colon + 1, '\t', (size_t)(line_end - colon - 1))) {
                    Py_XDECREF(kept);
                    Py_RETURN_NONE;
                }
                chunked = 1;
            } else if (kind == UPGRADE) {
                upgrade_start = value;
                upgrade_end = value_end;
            }
            if (kept == NULL) {
                kept = PyBytes_FromStringAndSize(NULL, fields_end - fields);
                if (kept == NULL)
                    return NULL;
                out = PyBytes_AS_STRING(kept);
            }
            memcpy(out, copied_up_to, (size_t)(line - copied_up_to));
            out += line - copied_up_to;
            copied_up_to = line_end;
        }
        line = line_end;
    }
    if (kept == NULL) {
        kept = PyBytes_FromStringAndSize(fields, fields_end - fields);
        if (kept == NULL)
            return NULL;
    } else {
        memcpy(out, copied_up_to, (size_t)(fields_end - copied_up_to));
        out += fields_end - copied_up_to;
        if (_PyBytes_Resize(&kept, out - PyBytes_AS_STRING(kept)) < 0)
            return NULL;
    }
    PyObject *length = length_start ? lower_copy(length_start, length_end - length_start) : Py_NewRef(Py_None);
    PyObject *upgrade = upgrade_start ? PyBytes_FromStringAndSize(upgrade_start, upgrade_end - upgrade_start)
                                      : Py_NewRef(Py_None);
    PyObject *result = length != NULL && upgrade != NULL ? PyTuple_New(4) : NULL;
    if (result == NULL) {
        Py_DECREF(kept);
        Py_XDECREF(length);
        Py_XDECREF(upgrade);
        return NULL;
    }
    PyTuple_SET_ITEM(result, 0, kept);
    PyTuple_SET_ITEM(result, 1, length);
    PyTuple_SET_ITEM(result, 2, Py_NewRef(chunked ? Py_True : Py_False));
    PyTuple_SET_ITEM(result, 3, upgrade);
    return result;
}

static PyMethodDef methods[] = {
    {"read_response_head", read_response_head, METH_O,
     "(fields, Content-Length, chunked, Upgrade) of a response head, or None when it needs\n"
     "the Python version (a Connection header naming fields to drop)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "laneway.http._fields", NULL, 0, methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__fields(void)
{
    return PyModule_Create(&module);
}
