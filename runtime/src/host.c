/*
 * Several apps as threads of one process, sharing one ZeroMQ context so
 * they can talk over inproc:// (deployer.packaging=single).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "ctx.h"
#include "flow/error.h"
#include "flow/host.h"

typedef struct host_app {
    flow_ctx *ctx;
    char **argv; /* owned copy */
    int argc;
    pthread_t thread;
    bool started;
    int status;
} host_app;

struct flow_host {
    host_app *apps;
    size_t n, cap;
    bool running;
    int done; /* atomic: threads finished */
    int stop; /* atomic */
};

flow_host *flow_host_new(void)
{
    return calloc(1, sizeof(flow_host));
}

static void free_argv(char **argv, int argc)
{
    for (int i = 0; i < argc; i++)
        free(argv[i]);
    free(argv);
}

int flow_host_add(flow_host *h, const flow_app_desc *app, int argc, char **argv)
{
    if (h->running)
        return -FLOW_ESTATE;
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 4;
        host_app *apps = realloc(h->apps, cap * sizeof(*apps));
        if (!apps)
            return -FLOW_ENOMEM;
        h->apps = apps;
        h->cap = cap;
    }
    char **copy = calloc((size_t)argc + 1, sizeof(*copy));
    if (!copy)
        return -FLOW_ENOMEM;
    for (int i = 0; i < argc; i++) {
        copy[i] = strdup(argv[i]);
        if (!copy[i]) {
            free_argv(copy, i);
            return -FLOW_ENOMEM;
        }
    }
    int status;
    flow_ctx *ctx = flow__ctx_new(app, argc, copy, &status);
    if (!ctx) {
        free_argv(copy, argc);
        return -FLOW_EUSAGE;
    }
    host_app *a = &h->apps[h->n++];
    memset(a, 0, sizeof(*a));
    a->ctx = ctx;
    a->argv = copy;
    a->argc = argc;
    return 0;
}

typedef struct thread_arg {
    flow_host *h;
    host_app *a;
    void *zctx;
} thread_arg;

static void *app_thread(void *p)
{
    thread_arg *t = p;
    t->a->status = flow__ctx_run(t->a->ctx, t->zctx, false);
    __atomic_add_fetch(&t->h->done, 1, __ATOMIC_ACQ_REL);
    free(t);
    return NULL;
}

int flow_host_run(flow_host *h)
{
    sigset_t sigs, old;
    int status = 0;
    void *zctx = zmq_ctx_new();
    if (!zctx)
        return 1;
    h->running = true;
    /* Only this thread takes SIGTERM/SIGINT; app threads inherit the
     * blocked mask. */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    flow__tune_malloc();
    size_t started = 0;
    for (size_t i = 0; i < h->n; i++) {
        thread_arg *t = malloc(sizeof(*t));
        if (!t) {
            status = 1;
            break;
        }
        t->h = h;
        t->a = &h->apps[i];
        t->zctx = zctx;
        if (pthread_create(&h->apps[i].thread, NULL, app_thread, t) != 0) {
            free(t);
            status = 1;
            break;
        }
        h->apps[i].started = true;
        started++;
    }
    if (started < h->n)
        flow_host_stop(h);
    bool stopped = started < h->n;
    while ((size_t)__atomic_load_n(&h->done, __ATOMIC_ACQUIRE) < started) {
        struct timespec ts = { 0, 100 * 1000 * 1000 };
        int sig = sigtimedwait(&sigs, NULL, &ts);
        if ((sig == SIGTERM || sig == SIGINT) && !stopped) {
            flow_host_stop(h);
            stopped = true;
        }
        if (__atomic_load_n(&h->stop, __ATOMIC_ACQUIRE) && !stopped) {
            flow_host_stop(h);
            stopped = true;
        }
        /* When one app ends (a source reached --count), the others keep
         * running until they stop on their own (end of stream) or are
         * stopped. */
    }
    for (size_t i = 0; i < h->n; i++) {
        if (!h->apps[i].started)
            continue;
        pthread_join(h->apps[i].thread, NULL);
        if (status == 0 && h->apps[i].status != 0)
            status = h->apps[i].status;
    }
    zmq_ctx_term(zctx);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    h->running = false;
    return status;
}

void flow_host_stop(flow_host *h)
{
    __atomic_store_n(&h->stop, 1, __ATOMIC_RELEASE);
    for (size_t i = 0; i < h->n; i++)
        flow__request_stop(h->apps[i].ctx);
}

void flow_host_destroy(flow_host **hp)
{
    flow_host *h = *hp;
    if (!h)
        return;
    *hp = NULL;
    for (size_t i = 0; i < h->n; i++) {
        flow__ctx_free(&h->apps[i].ctx);
        free_argv(h->apps[i].argv, h->apps[i].argc);
    }
    free(h->apps);
    free(h);
}
