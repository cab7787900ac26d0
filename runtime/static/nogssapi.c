/*
 * The GSSAPI entry points libzmq.a refers to, for apps linked statically.
 *
 * Debian's libzmq is built with ZeroMQ's GSSAPI security mechanism, and
 * MIT Kerberos ships no static archive, so a static link of libzmq.a has
 * thirteen undefined gss_* symbols. flow never selects that mechanism
 * (it sets no ZMQ_GSSAPI_* option on any socket), so the code that calls
 * these is never reached; if it were, every call fails with
 * GSS_S_UNAVAILABLE and ZeroMQ refuses the handshake, as it does for any
 * mechanism error. Dynamically linked builds use the real library and do
 * not compile this file.
 */
#include <gssapi/gssapi.h>

gss_OID GSS_C_NT_USER_NAME;
gss_OID GSS_C_NT_HOSTBASED_SERVICE;

static OM_uint32 unavailable(OM_uint32 *minor)
{
    if (minor)
        *minor = 0;
    return GSS_S_UNAVAILABLE;
}

OM_uint32 gss_acquire_cred(OM_uint32 *minor, gss_name_t name, OM_uint32 t,
                           gss_OID_set mechs, gss_cred_usage_t usage,
                           gss_cred_id_t *cred, gss_OID_set *actual,
                           OM_uint32 *trec)
{
    (void)name, (void)t, (void)mechs, (void)usage, (void)actual, (void)trec;
    if (cred)
        *cred = GSS_C_NO_CREDENTIAL;
    return unavailable(minor);
}

OM_uint32 gss_release_cred(OM_uint32 *minor, gss_cred_id_t *cred)
{
    if (cred)
        *cred = GSS_C_NO_CREDENTIAL;
    if (minor)
        *minor = 0;
    return GSS_S_COMPLETE;
}

OM_uint32 gss_init_sec_context(OM_uint32 *minor, gss_cred_id_t cred,
                               gss_ctx_id_t *ctx, gss_name_t target,
                               gss_OID mech, OM_uint32 req, OM_uint32 t,
                               gss_channel_bindings_t cb, gss_buffer_t in,
                               gss_OID *amech, gss_buffer_t out,
                               OM_uint32 *rflags, OM_uint32 *trec)
{
    (void)cred, (void)ctx, (void)target, (void)mech, (void)req, (void)t;
    (void)cb, (void)in, (void)amech, (void)rflags, (void)trec;
    if (out)
        out->length = 0, out->value = NULL;
    return unavailable(minor);
}

OM_uint32 gss_accept_sec_context(OM_uint32 *minor, gss_ctx_id_t *ctx,
                                 gss_cred_id_t cred, gss_buffer_t in,
                                 gss_channel_bindings_t cb, gss_name_t *src,
                                 gss_OID *mech, gss_buffer_t out,
                                 OM_uint32 *rflags, OM_uint32 *trec,
                                 gss_cred_id_t *deleg)
{
    (void)ctx, (void)cred, (void)in, (void)cb, (void)src, (void)mech;
    (void)rflags, (void)trec, (void)deleg;
    if (out)
        out->length = 0, out->value = NULL;
    return unavailable(minor);
}

OM_uint32 gss_delete_sec_context(OM_uint32 *minor, gss_ctx_id_t *ctx,
                                 gss_buffer_t out)
{
    if (ctx)
        *ctx = GSS_C_NO_CONTEXT;
    if (out)
        out->length = 0, out->value = NULL;
    if (minor)
        *minor = 0;
    return GSS_S_COMPLETE;
}

OM_uint32 gss_wrap(OM_uint32 *minor, gss_ctx_id_t ctx, int conf, gss_qop_t qop,
                   gss_buffer_t in, int *cstate, gss_buffer_t out)
{
    (void)ctx, (void)conf, (void)qop, (void)in, (void)cstate, (void)out;
    return unavailable(minor);
}

OM_uint32 gss_unwrap(OM_uint32 *minor, gss_ctx_id_t ctx, gss_buffer_t in,
                     gss_buffer_t out, int *cstate, gss_qop_t *qop)
{
    (void)ctx, (void)in, (void)out, (void)cstate, (void)qop;
    return unavailable(minor);
}

OM_uint32 gss_display_name(OM_uint32 *minor, gss_name_t name, gss_buffer_t out,
                           gss_OID *type)
{
    (void)name, (void)out, (void)type;
    return unavailable(minor);
}

OM_uint32 gss_import_name(OM_uint32 *minor, gss_buffer_t in, gss_OID type,
                          gss_name_t *name)
{
    (void)in, (void)type;
    if (name)
        *name = GSS_C_NO_NAME;
    return unavailable(minor);
}

OM_uint32 gss_release_name(OM_uint32 *minor, gss_name_t *name)
{
    if (name)
        *name = GSS_C_NO_NAME;
    if (minor)
        *minor = 0;
    return GSS_S_COMPLETE;
}

OM_uint32 gss_release_buffer(OM_uint32 *minor, gss_buffer_t buf)
{
    if (buf)
        buf->length = 0, buf->value = NULL;
    if (minor)
        *minor = 0;
    return GSS_S_COMPLETE;
}
