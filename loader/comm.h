/* comm.h - one process per rank: the ranks of a layout as the processes mpirun (or srun) starts,
 * world rank = stage * tp + tp_rank, as vLLM numbers them. Open MPI is opened at run time
 * (RTLD_GLOBAL, as its plugins need), only when the process was started by a launcher, so a
 * build without MPI, and every other command, start without it. Every call returns CK_OK or
 * CK_EUSAGE / CK_EIO with err naming the failed call. */
#ifndef CK_LOADER_COMM_H
#define CK_LOADER_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "base/ckerr.h"

typedef struct fwd_comm {
    int rank, size;         /* in the world */
    int tp, pp;             /* the layout the world runs */
    int tp_rank, stage;     /* this process's place in it */
    void *world, *tp_group; /* MPI_Comm: every process; this stage's TP ranks */
} fwd_comm;

/* The size of the world a launcher started this process in (Open MPI's OMPI_COMM_WORLD_SIZE,
 * PMI_SIZE or PMIX_SIZE, Slurm's SLURM_NTASKS under srun), 0 when none did. */
int comm_launched(void);
/* This process's number from its launcher's variables (before MPI_Init), 0 when it gave none. */
int comm_launcher_rank(void);
/* "srun" when Slurm's srun started this process itself, else "mpirun": the launcher to name. */
const char *comm_launcher(void);
/* Every MPI call waits at most this many seconds for the other processes (CKPTDOC_MPI_TIMEOUT,
 * else COMM_TIMEOUT_DEFAULT); past it the process says which call and which rank waited, and
 * ends with status 2, which makes the launcher stop every other process: a process that hangs,
 * or was never started, stops the check instead of holding every rank forever. Calls that wait
 * for other ranks' long work (patient) are not timed: starting up, the tensor-parallel gathers
 * of each layer (which the ranks of a stage reach together) and the end are. */
#define COMM_TIMEOUT_DEFAULT 900
int comm_timeout_s(void);
/* MPI_Init and the world's rank and size; then the TP groups of tp x pp, which must be the
 * world's size (else CK_EUSAGE saying how many processes to start). */
int comm_init(fwd_comm *c, int tp, int pp, ck_err *err);
/* Within this stage's TP group: every rank's n floats of all[tp_rank * n ..] gathered into all,
 * in place. */
int comm_allgather(const fwd_comm *c, float *all, size_t n, ck_err *err);
/* Over the world: bytes from world rank root to every process. patient: the others may be busy
 * for long before they get there (rank 0's unsharded model, an earlier pipeline stage's layers),
 * so the wait is not timed. */
int comm_bcast(const fwd_comm *c, void *buf, size_t bytes, int root, int patient, ck_err *err);
/* Over the world: each process's n 64-bit values gathered into all[size * n] (all ranks get it);
 * patient as for comm_bcast. */
int comm_allgather_u64(const fwd_comm *c, const uint64_t *mine, size_t n, uint64_t *all, int patient, ck_err *err);
/* Stops every process of the world with this exit status (MPI_Abort): a rank that failed says
 * why on its stderr first, and no other rank waits for it in a collective. */
void comm_abort(const fwd_comm *c, int status);
/* MPI_Finalize; c is unusable after. */
void comm_end(fwd_comm *c);

#endif
