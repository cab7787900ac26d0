/* flowd's error codes, names, statuses and messages from error.h. */
#include "error.h"

static const struct {
    const char *name;
    int status;
    const char *msg;
} table[] = { [SRV__E_NONE] = { "OK", 200, "success" },
#define SRV__ERR_ROW(name, status, msg) [SRV_##name] = { #name, status, msg },
              SRV_ERRNO_MAP(SRV__ERR_ROW)
#undef SRV__ERR_ROW
};

static int row(int err)
{
    if (err < 0) {
        if (err <= -SRV__E_COUNT)
            return -1;
        err = -err;
    }
    return err < SRV__E_COUNT ? err : -1;
}

const char *srv_strerror(int err)
{
    int k = row(err);
    return k < 0 ? "unknown error" : table[k].msg;
}

const char *srv_errname(int err)
{
    int k = row(err);
    return k <= 0 ? "UNKNOWN" : table[k].name;
}

int srv_errstatus(int err)
{
    int k = row(err);
    return k < 0 ? 500 : table[k].status;
}
