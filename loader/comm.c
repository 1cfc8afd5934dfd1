/* comm.c - one process per rank over Open MPI, opened at run time (comm.h). */
#include "loader/comm.h"

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int comm_launched(void)
{
    /* each launcher's world size, and a variable only its tasks have (SLURM_NTASKS is also set
     * in a batch script's own shell, SLURM_PROCID only in a task srun started) */
    static const struct {
        const char *size, *task;
    } vars[] = {{"OMPI_COMM_WORLD_SIZE", NULL}, {"PMIX_SIZE", NULL}, {"PMI_SIZE", NULL},
                {"SLURM_NTASKS", "SLURM_PROCID"}};
    for (unsigned i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i].size);
        if (v && *v && (!vars[i].task || getenv(vars[i].task))) {
            long n = strtol(v, NULL, 10);
            return n > 0 && n < INT_MAX ? (int)n : 0;
        }
    }
    return 0;
}

int comm_launcher_rank(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_RANK", "PMIX_RANK", "PMI_RANK", "SLURM_PROCID"};
    for (unsigned i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i]))
            return atoi(getenv(vars[i]));
    return 0;
}

const char *comm_launcher(void)
{
    return getenv("SLURM_PROCID") && !getenv("OMPI_COMM_WORLD_RANK") ? "srun" : "mpirun";
}

int comm_timeout_s(void)
{
    const char *v = getenv("CKPTDOC_MPI_TIMEOUT");
    char *end;
    long s = v && *v ? strtol(v, &end, 10) : 0;
    return v && *v && *end == 0 && s > 0 && s <= 86400 * 7 ? (int)s : COMM_TIMEOUT_DEFAULT;
}

#if defined(HAVE_MPI)
#include <mpi.h>

/* The watchdog: a thread that ends the process when one collective call has waited longer than
 * the time-out. MPI's collectives wait without end for a process that hangs, or never started;
 * the launcher stops every other process once one ends without MPI_Finalize. */
static struct {
    pthread_t thread;
    int started, timeout_s;
    long long since_ns; /* when the pending call began (CLOCK_MONOTONIC), 0: none pending */
    const char *what;   /* the pending call */
    int rank;           /* this process's world rank, -1 before MPI_Init says it */
} W = {.rank = -1};

static long long mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* "MPI_Allgather" for the text of the call "M.allgather(...)". */
static const char *call_name(const char *text)
{
    static const char *const names[][2] = {{"M.init(", "MPI_Init"}, {"M.initialized(", "MPI_Initialized"},
                                           {"M.rank(", "MPI_Comm_rank"}, {"M.size(", "MPI_Comm_size"},
                                           {"M.split(", "MPI_Comm_split"}, {"M.allgather(", "MPI_Allgather"},
                                           {"M.bcast(", "MPI_Bcast"}};
    for (unsigned i = 0; i < sizeof names / sizeof *names; i++)
        if (strncmp(text, names[i][0], strlen(names[i][0])) == 0)
            return names[i][1];
    return text;
}

static void *watch(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec nap = {0, 100 * 1000 * 1000};
        nanosleep(&nap, NULL);
        long long since = __atomic_load_n(&W.since_ns, __ATOMIC_ACQUIRE);
        if (!since || mono_ns() - since < (long long)W.timeout_s * 1000000000LL)
            continue;
        const char *what = __atomic_load_n(&W.what, __ATOMIC_ACQUIRE);
        int rank = __atomic_load_n(&W.rank, __ATOMIC_RELAXED);
        if (rank < 0) /* before MPI_Init answered */
            rank = comm_launcher_rank();
        char line[512];
        int n = snprintf(line, sizeof line, "ckptdoc check: rank %d waited %d s in %s for the other processes: "
                         "one of them is stuck, or was never started; stopping (CKPTDOC_MPI_TIMEOUT sets the "
                         "time-out in seconds)\n", rank, W.timeout_s, call_name(what));
        if (n > 0 && write(STDERR_FILENO, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1) < 0)
            n = 0;
        _exit(2); /* MPI_Abort is for the main thread, which is the one waiting */
    }
    return NULL;
}

/* A collective call begins (what: its name) or ends (NULL). */
static void watch_call(const char *what)
{
    if (!W.started) {
        W.timeout_s = comm_timeout_s();
        pthread_attr_t at;
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        W.started = pthread_create(&W.thread, &at, watch, NULL) == 0;
        pthread_attr_destroy(&at);
    }
    if (what)
        __atomic_store_n(&W.what, what, __ATOMIC_RELEASE);
    __atomic_store_n(&W.since_ns, what ? mono_ns() : 0, __ATOMIC_RELEASE);
}

#if !defined(OPEN_MPI)
#error "comm.c opens Open MPI at run time; build with Open MPI's mpi.h (libopenmpi-dev) or without MPI"
#endif

static struct {
    int ready;
    __typeof__(&MPI_Init) init;
    __typeof__(&MPI_Initialized) initialized;
    __typeof__(&MPI_Comm_rank) rank;
    __typeof__(&MPI_Comm_size) size;
    __typeof__(&MPI_Comm_split) split;
    __typeof__(&MPI_Allgather) allgather;
    __typeof__(&MPI_Bcast) bcast;
    __typeof__(&MPI_Abort) abort_;
    __typeof__(&MPI_Finalize) finalize;
    __typeof__(&MPI_Error_string) error_string;
    void *world, *t_float, *t_byte, *t_u64; /* Open MPI's predefined handles are global objects */
} M;

static int mpi_load(ck_err *err)
{
    if (M.ready)
        return CK_OK;
    static const char *const names[] = {"libmpi.so.40", "libmpi.so"};
    void *lib = NULL;
    for (unsigned i = 0; i < sizeof names / sizeof *names && !lib; i++)
        lib = dlopen(names[i], RTLD_NOW | RTLD_GLOBAL); /* its components resolve libmpi's symbols */
    if (!lib)
        return ck_err_set(err, CK_EUSAGE, "libmpi", NULL, CK_NO_OFFSET, "started by an MPI launcher, but Open "
                          "MPI cannot be loaded (%s): install openmpi-bin and libopenmpi-dev (Debian)", dlerror());
    *(void **)&M.init = dlsym(lib, "MPI_Init");
    *(void **)&M.initialized = dlsym(lib, "MPI_Initialized");
    *(void **)&M.rank = dlsym(lib, "MPI_Comm_rank");
    *(void **)&M.size = dlsym(lib, "MPI_Comm_size");
    *(void **)&M.split = dlsym(lib, "MPI_Comm_split");
    *(void **)&M.allgather = dlsym(lib, "MPI_Allgather");
    *(void **)&M.bcast = dlsym(lib, "MPI_Bcast");
    *(void **)&M.abort_ = dlsym(lib, "MPI_Abort");
    *(void **)&M.finalize = dlsym(lib, "MPI_Finalize");
    *(void **)&M.error_string = dlsym(lib, "MPI_Error_string");
    M.world = dlsym(lib, "ompi_mpi_comm_world");
    M.t_float = dlsym(lib, "ompi_mpi_float");
    M.t_byte = dlsym(lib, "ompi_mpi_byte");
    M.t_u64 = dlsym(lib, "ompi_mpi_uint64_t");
    if (!M.init || !M.initialized || !M.rank || !M.size || !M.split || !M.allgather || !M.bcast || !M.abort_ ||
        !M.finalize || !M.error_string || !M.world || !M.t_float || !M.t_byte || !M.t_u64)
        return ck_err_set(err, CK_EUSAGE, "libmpi", NULL, CK_NO_OFFSET, "the libmpi found is not Open MPI's "
                          "(a symbol is missing: %s); run with Open MPI's mpirun", dlerror());
    M.ready = 1;
    return CK_OK;
}

static int mpi_error(int rc, const char *call, ck_err *err)
{
    char s[MPI_MAX_ERROR_STRING] = "";
    int n = 0;
    M.error_string(rc, s, &n);
    return ck_err_set(err, CK_EIO, "MPI", call, CK_NO_OFFSET, "%s", s);
}

/* An MPI call, timed by the watchdog unless it may wait long for others' work (patient). */
#define MPI_CALL_P(err, call, patient)                            \
    do {                                                          \
        if (!(patient))                                           \
            watch_call(#call);                                    \
        int mpi_rc_ = (call);                                     \
        watch_call(NULL);                                         \
        if (mpi_rc_ != MPI_SUCCESS)                               \
            return mpi_error(mpi_rc_, #call, (err));              \
    } while (0)
#define MPI_CALL(err, call) MPI_CALL_P(err, call, 0)

/* Under srun, Open MPI joins Slurm's tasks through PMIx (srun --mpi=pmix), or through PMI-1/2
 * when it was built with Slurm's PMI library (its pmix components s1 and s2). Started any other
 * way, it stops inside MPI_Init with a page of advice, exit status 1 and no way to catch it: say
 * it in one line first, and exit 2. Open MPI's components lie next to libmpi (Debian:
 * openmpi/lib/openmpi3, a plain build: openmpi); where none is found, MPI_Init tries. */
static int srun_check(ck_err *err)
{
    if (strcmp(comm_launcher(), "srun") != 0 || getenv("PMIX_RANK"))
        return CK_OK;
    Dl_info info;
    char lib[PATH_MAX];
    if (!dladdr(*(void **)&M.init, &info) || !info.dli_fname || !realpath(info.dli_fname, lib))
        return CK_OK;
    char *slash = strrchr(lib, '/');
    if (!slash)
        return CK_OK;
    *slash = 0;
    static const char *const dirs[] = {"openmpi3", "openmpi", "openmpi/lib/openmpi3", "openmpi/lib/openmpi"};
    for (unsigned i = 0; i < sizeof dirs / sizeof *dirs; i++) {
        char dir[PATH_MAX + 64], s1[PATH_MAX + 96], s2[PATH_MAX + 96], any[PATH_MAX + 96];
        snprintf(dir, sizeof dir, "%s/%s", lib, dirs[i]);
        snprintf(any, sizeof any, "%s/mca_btl_self.so", dir);
        if (access(any, F_OK) != 0)
            continue;
        snprintf(s1, sizeof s1, "%s/mca_pmix_s1.so", dir);
        snprintf(s2, sizeof s2, "%s/mca_pmix_s2.so", dir);
        if (access(s1, F_OK) == 0 || access(s2, F_OK) == 0)
            return CK_OK;
        const char *type = getenv("SLURM_MPI_TYPE");
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "srun started this task without PMIx "
                          "(SLURM_MPI_TYPE=%s), but this Open MPI (%s) joins Slurm's tasks only through PMIx: "
                          "start with 'srun --mpi=pmix -K -n TPxPP ckptdoc check ...' ('srun --mpi=list' shows "
                          "this Slurm's plugins; MpiDefault=pmix in slurm.conf makes it the default)",
                          type && *type ? type : "unset", dir);
    }
    return CK_OK;
}

int comm_init(fwd_comm *c, int tp, int pp, ck_err *err)
{
    memset(c, 0, sizeof *c);
    c->rank = comm_launcher_rank(); /* until MPI_Init says it */
    if (mpi_load(err) != CK_OK || srun_check(err) != CK_OK)
        return err->code;
    int up = 0;
    MPI_CALL(err, M.initialized(&up));
    if (!up)
        MPI_CALL(err, M.init(NULL, NULL));
    MPI_Comm w = (MPI_Comm)M.world;
    MPI_CALL(err, M.rank(w, &c->rank));
    __atomic_store_n(&W.rank, c->rank, __ATOMIC_RELAXED);
    MPI_CALL(err, M.size(w, &c->size));
    c->world = M.world;
    c->tp = tp;
    c->pp = pp;
    if ((long long)tp * pp != c->size)
        return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "TP %d x PP %d is %lld ranks, but %d processes "
                          "were started: start one per rank (%s -n %lld ckptdoc check ...)", tp, pp,
                          (long long)tp * pp, c->size, comm_launcher(), (long long)tp * pp);
    c->tp_rank = c->rank % tp;
    c->stage = c->rank / tp;
    MPI_Comm g;
    MPI_CALL(err, M.split(w, c->stage, c->tp_rank, &g));
    c->tp_group = (void *)g;
    return CK_OK;
}

int comm_allgather(const fwd_comm *c, float *all, size_t n, ck_err *err)
{
    if (n > INT_MAX)
        return ck_err_set(err, CK_EUSAGE, "MPI", "MPI_Allgather", CK_NO_OFFSET, "%zu values are more than one "
                          "message carries", n);
    MPI_CALL(err, M.allgather(MPI_IN_PLACE, 0, (MPI_Datatype)M.t_float, all, (int)n, (MPI_Datatype)M.t_float,
                              (MPI_Comm)c->tp_group));
    return CK_OK;
}

int comm_bcast(const fwd_comm *c, void *buf, size_t bytes, int root, int patient, ck_err *err)
{
    for (size_t off = 0; off < bytes;) { /* in messages of at most 1 GiB */
        size_t n = bytes - off < ((size_t)1 << 30) ? bytes - off : (size_t)1 << 30;
        MPI_CALL_P(err, M.bcast((char *)buf + off, (int)n, (MPI_Datatype)M.t_byte, root, (MPI_Comm)c->world),
                   patient);
        off += n;
    }
    return CK_OK;
}

int comm_allgather_u64(const fwd_comm *c, const uint64_t *mine, size_t n, uint64_t *all, int patient, ck_err *err)
{
    MPI_CALL_P(err, M.allgather(mine, (int)n, (MPI_Datatype)M.t_u64, all, (int)n, (MPI_Datatype)M.t_u64,
                                (MPI_Comm)c->world), patient);
    return CK_OK;
}

void comm_abort(const fwd_comm *c, int status)
{
    fflush(stdout);
    fflush(stderr);
    M.abort_((MPI_Comm)c->world, status);
    exit(status); /* not reached */
}

void comm_end(fwd_comm *c)
{
    if (M.ready && c->world) {
        watch_call("MPI_Finalize");
        M.finalize();
        watch_call(NULL);
    }
    c->world = NULL;
}

#else /* built without MPI */

int comm_init(fwd_comm *c, int tp, int pp, ck_err *err)
{
    memset(c, 0, sizeof *c);
    c->rank = comm_launcher_rank(); /* only the first process says it */
    (void)tp, (void)pp;
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "started by an MPI launcher, but this ckptdoc was "
                      "built without MPI: install libopenmpi-dev (make deps) and build again");
}

int comm_allgather(const fwd_comm *c, float *all, size_t n, ck_err *err)
{
    (void)c, (void)all, (void)n;
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "built without MPI");
}

int comm_bcast(const fwd_comm *c, void *buf, size_t bytes, int root, int patient, ck_err *err)
{
    (void)c, (void)buf, (void)bytes, (void)root, (void)patient;
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "built without MPI");
}

int comm_allgather_u64(const fwd_comm *c, const uint64_t *mine, size_t n, uint64_t *all, int patient, ck_err *err)
{
    (void)c, (void)mine, (void)n, (void)all, (void)patient;
    return ck_err_set(err, CK_EUSAGE, NULL, NULL, CK_NO_OFFSET, "built without MPI");
}

void comm_abort(const fwd_comm *c, int status)
{
    (void)c;
    exit(status);
}

void comm_end(fwd_comm *c)
{
    c->world = NULL;
}

#endif
