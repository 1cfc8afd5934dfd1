/* fuzz_st_header.c - libFuzzer target for the safetensors header parser: the input is a whole
 * file image. Built with clang by `make fuzz`; tests/fuzz_replay.c replays a corpus through the
 * same function without libFuzzer, in `make check`. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "inspect/sniff.h"
#include "inspect/st.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ck_findings f;
    findings_init(&f);
    st_header h;
    st_status s = st_header_parse(data, size, size, "fuzz", &h, &f);
    if (s == ST_OK) {
        /* what was accepted must be self-consistent */
        uint64_t end = 0;
        for (size_t i = 0; i < h.n_tensors; i++) {
            if (h.tensors[i].end > end)
                end = h.tensors[i].end;
            if (st_tensor_numel(&h.tensors[i]) * dtype_bits(h.tensors[i].dtype) / 8 !=
                st_tensor_nbytes(&h.tensors[i]))
                abort(); /* the bytes a tensor covers are what its shape and dtype need */
        }
        if (end != h.data_len || h.data_start + h.data_len != size)
            abort();
    } else if (f.n == 0 || f.v[f.n - 1].sev != SEV_ERROR) {
        abort(); /* every rejection carries its reason */
    }
    st_header_free(&h);
    findings_free(&f);
    lfs_pointer p;
    sniff_bytes(data, size < SNIFF_BYTES ? size : SNIFF_BYTES, size, &p);
    return 0;
}
