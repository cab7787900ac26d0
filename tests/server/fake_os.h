/*
 * The fake operating system of the deployer's tests (test_deployer.c,
 * test_checkpoint.c): what would be spawned and signalled is recorded in
 * fk, and a pid is alive while its fake process is. Included by each test
 * after its own headers (criterion, the deployer's); static, one copy
 * per test program.
 */
#ifndef FLOW_TESTS_SERVER_FAKE_OS_H
#define FLOW_TESTS_SERVER_FAKE_OS_H

#define FAKE_MAX 256

/* One process the fake "started". */
typedef struct fake_proc {
    srv_inst *inst; /* borrowed; NULL once detached */
    int pid;
    bool alive;
    char id[160];
    char args[4096]; /* argv, one element a line */
} fake_proc;

/* What the fake saw, in order. */
static struct {
    fake_proc procs[FAKE_MAX];
    int nprocs;
    struct {
        int pid;
        int sig;
    } sent[FAKE_MAX];
    int nsent;
    int64_t now;
} fk;

static int fake_spawn(void *ud, srv_inst *i, const char *file, char **argv,
                      char **envp, int log_fd, void **proc, int *pid)
{
    (void)ud, (void)file, (void)envp, (void)log_fd;
    cr_assert_lt(fk.nprocs, FAKE_MAX);
    fake_proc *p = &fk.procs[fk.nprocs++];
    p->inst = i;
    p->pid = 1000 + fk.nprocs;
    p->alive = true;
    srv_inst_id(i, p->id, sizeof p->id);
    size_t off = 0;
    for (char **a = argv; *a && off < sizeof p->args; a++)
        off +=
            (size_t)snprintf(p->args + off, sizeof p->args - off, "%s\n", *a);
    *proc = p;
    *pid = p->pid;
    return 0;
}

static void fake_kill(void *ud, void *proc, int pid, int sig)
{
    (void)ud;
    cr_assert_lt(fk.nsent, FAKE_MAX);
    fk.sent[fk.nsent].pid = proc ? ((fake_proc *)proc)->pid : pid;
    fk.sent[fk.nsent].sig = sig;
    fk.nsent++;
}

static void fake_detach(void *ud, void *proc)
{
    (void)ud;
    ((fake_proc *)proc)->inst = NULL;
}

/* A pid is alive while its fake process is; its start time is its pid. */
static uint64_t fake_start_ticks(void *ud, int pid)
{
    (void)ud;
    for (int k = 0; k < fk.nprocs; k++)
        if (fk.procs[k].pid == pid && fk.procs[k].alive)
            return (uint64_t)pid;
    return 0;
}

#endif
