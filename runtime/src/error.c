/* Error codes, names and messages from the one table in flow/error.h. */
#include <errno.h>
#include <stddef.h>
#include <zmq.h>

#include "flow/error.h"

const char *flow_strerror(int err)
{
    if (err < 0)
        err = -err;
    if (err == 0)
        return "success";
    switch (err) {
#define FLOW__ERR_MSG(name, val, msg) \
    case val:                         \
        return msg;
        FLOW_ERRNO_MAP(FLOW__ERR_MSG)
#undef FLOW__ERR_MSG
    }
    return "unknown error";
}

const char *flow_errname(int err)
{
    if (err < 0)
        err = -err;
    switch (err) {
#define FLOW__ERR_NAME(name, val, msg) \
    case val:                          \
        return #name;
        FLOW_ERRNO_MAP(FLOW__ERR_NAME)
#undef FLOW__ERR_NAME
    }
    return "UNKNOWN";
}

int flow_from_errno(int e)
{
    switch (e) {
    case 0:
        return 0;
    case ENOMEM:
        return -FLOW_ENOMEM;
    case EAGAIN:
        return -FLOW_EAGAIN;
    case EINVAL:
        return -FLOW_EINVAL;
    case ENOENT:
        return -FLOW_ENOENT;
    case E2BIG:
    case EMSGSIZE:
        return -FLOW_ETOOBIG;
    default:
        return -FLOW_EIO;
    }
}

int flow_from_zmq(void)
{
    switch (zmq_errno()) {
    case EAGAIN:
        return -FLOW_EAGAIN;
    case ETERM:
        return -FLOW_ETERM;
    case ENOMEM:
        return -FLOW_ENOMEM;
    case EINVAL:
    case EPROTONOSUPPORT:
    case ENOCOMPATPROTO:
    case EADDRINUSE:
    case EADDRNOTAVAIL:
    case ENODEV:
        return -FLOW_EENDPOINT;
    default:
        return -FLOW_EZMQ;
    }
}
