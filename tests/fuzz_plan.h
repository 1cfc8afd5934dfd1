/* fuzz_plan.h - what the fuzz targets that plan a load share: rules r planned against checkpoint
 * ck at layout lay and, when they plan, the load simulated; any outcome but a plan refused
 * without a reason (which aborts) is fine. */
#ifndef CK_FUZZ_PLAN_H
#define CK_FUZZ_PLAN_H

#include <stdlib.h>
#include <string.h>

#include "inspect/ckpt.h"
#include "loader/plan.h"
#include "loader/simulate.h"
#include "rules/rules.h"

static inline void fuzz_plan_and_simulate(const rules_file *r, const ck_checkpoint *ck, const plan_layout *lay)
{
    plan p;
    ck_findings f;
    ck_err err;
    findings_init(&f);
    ck_err_clear(&err);
    if (plan_build(r, &ck->cfg, lay, &p, &f, &err) == CK_OK) {
        sim_result res;
        memset(&res, 0, sizeof res);
        if (simulate_run(ck, &p, &res, &f, &err) == CK_OK)
            sim_result_free(&res);
        plan_free(&p);
    } else if (!err.msg[0])
        abort(); /* a plan refused says why */
    findings_free(&f);
}

#endif
