/* cuda_check.h - every CUDA call goes through CK_CUDA, which records the statement, the file and
 * line, and cudaGetErrorString in a ck_err, then returns CK_ECUDA from the calling function.
 * CK_CUDA_LAUNCH checks the last error right after a kernel launch. */
#ifndef CK_CUDA_CHECK_H
#define CK_CUDA_CHECK_H

#include <cuda_runtime.h>

#include "base/ckerr.h"

#define CK_CUDA(err, call)                                                                        \
    do {                                                                                          \
        cudaError_t ck_cuda_rc_ = (call);                                                         \
        if (ck_cuda_rc_ != cudaSuccess)                                                           \
            return ck_err_set((err), CK_ECUDA, __FILE__, #call, CK_NO_OFFSET, "line %d: %s",      \
                              __LINE__, cudaGetErrorString(ck_cuda_rc_));                         \
    } while (0)

#define CK_CUDA_LAUNCH(err, what) CK_CUDA(err, cudaGetLastError())

#endif
