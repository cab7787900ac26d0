/*
 * flow: error codes.
 *
 * Functions that can fail return 0 or a negative FLOW_E* code. Codes, names
 * and messages come from the one table below, shared by flow_strerror(),
 * the REST error JSON and the tests. errno values and ZeroMQ errors are
 * mapped to these codes at the edge, where the call that failed is made.
 */
#ifndef FLOW_ERROR_H
#define FLOW_ERROR_H

/* X(code name, positive value, message). */
#define FLOW_ERRNO_MAP(X)                                \
    X(EINVAL, 1, "invalid argument")                     \
    X(ENOMEM, 2, "out of memory")                        \
    X(EUSAGE, 3, "bad command line")                     \
    X(EOPTION, 4, "bad option value")                    \
    X(EENDPOINT, 5, "bad endpoint")                      \
    X(EMALFORMED, 6, "malformed message")                \
    X(ETRUNCATED, 7, "truncated message")                \
    X(ETOOBIG, 8, "message too large")                   \
    X(EVERSION, 9, "unsupported wire version")           \
    X(EAGAIN, 10, "resource temporarily unavailable")    \
    X(EZMQ, 11, "ZeroMQ error")                          \
    X(EIO, 12, "input/output error")                     \
    X(ENOENT, 13, "no such file or directory")           \
    X(ESTATE, 14, "operation not allowed in this state") \
    X(ETERM, 15, "terminated")                           \
    X(EAPP, 16, "the app reported a failure")            \
    X(ENOTFOUND, 17, "not found")                        \
    X(ETHREAD, 18, "thread error")

enum flow_errno {
#define FLOW__ERR_ENUM(name, val, msg) FLOW_##name = (val),
    FLOW_ERRNO_MAP(FLOW__ERR_ENUM)
#undef FLOW__ERR_ENUM
};

/*
 * The message for an error code (negative or positive), or "success" for 0,
 * or "unknown error" for a value outside the table. Never NULL; static.
 */
const char *flow_strerror(int err);

/* The code's name without the FLOW_ prefix ("EINVAL"), or "UNKNOWN". */
const char *flow_errname(int err);

/* Maps an errno value (positive) to a negative FLOW_E* code. */
int flow_from_errno(int e);

/*
 * Maps the current zmq_errno() to a negative FLOW_E* code: EAGAIN to
 * -FLOW_EAGAIN, ETERM to -FLOW_ETERM, ENOMEM to -FLOW_ENOMEM, EINVAL and
 * EPROTONOSUPPORT to -FLOW_EENDPOINT, anything else to -FLOW_EZMQ.
 */
int flow_from_zmq(void);

#endif
