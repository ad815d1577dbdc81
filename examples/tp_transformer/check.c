/* SPDX-License-Identifier: MIT */
/*
 * check.c — --check: rank 0 builds the whole model (same seed or same checkpoint,
 * unsharded), runs the tokens the TP run saw one position at a time, and compares
 * the logits at every position with the TP logits.
 *
 * The reference is fed the TP run's tokens (teacher forcing), so a near-tie that the
 * bf16 wire flips does not send the two runs down different continuations; the
 * argmax agreement is printed for information. It decodes position by position
 * while the TP run prefilled in one batch, so the check also covers batched prefill.
 *
 * Error measure per position: max_i |tp_i - ref_i| / max_i |ref_i| ("rel"), which
 * stays meaningful for logits near zero; the tolerance is explained in options.c.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "tp.h"
#include "weights.h"

typedef struct {
    double max_abs, max_rel;
    double sum_abs; /* of |tp - ref| over every logit of every position: the mean's numerator */
    long values;
    int worst;      /* position of max_rel */
    int argmax_agree;
    int decode_agree; /* of them, at the decode steps' positions */
    int flips;        /* positions whose argmax differs */
    int over;       /* positions over tolerance */
} check_stats;

static int reference_build(const tpt_options *o, tpt_model *m, tpt_state *s)
{
    char err[256];
    tpt_source *src = NULL;
    tpt_config header;
    m->cfg = o->cfg;
    if (tpt_shard_init(&m->sh, &m->cfg, 0, 1, 0, err, sizeof(err)) != 0)
        return -1;
    if (o->model ? tpt_source_checkpoint(o->model, &header, &src) != 0
                 : !(src = tpt_source_generated(&m->cfg, o->seed)))
        return -1;
    int rc = tpt_weights_load(m, src);
    tpt_source_close(src);
    if (rc == 0 && tpt_state_alloc(s, m, 1) != 0) {
        fprintf(stderr, "tp_transformer: check: out of memory for the reference state\n");
        rc = -1;
    }
    return rc;
}

static void compare(const float *tp, const float *ref, int n, double tol, int pos, int decode, check_stats *st)
{
    double abs_err = 0.0, scale = 0.0;
    for (int i = 0; i < n; i++) {
        double d = fabs((double)tp[i] - ref[i]);
        abs_err = d > abs_err || isnan(d) ? d : abs_err;
        st->sum_abs += d;
        scale = fabs(ref[i]) > scale ? fabs(ref[i]) : scale;
    }
    double rel = scale > 0.0 ? abs_err / scale : abs_err;
    st->values += n;
    int a_tp = tpt_argmax(tp, n), a_ref = tpt_argmax(ref, n), agree = a_tp == a_ref;
    st->argmax_agree += agree;
    if (!agree && st->flips++ < 5) /* a near-tie in the reference, or a real error? */
        printf("check: position %d: argmax %d, reference %d: the reference scores them %.4g apart, the largest "
               "logit error here is %.3g\n", pos, a_tp, a_ref, (double)ref[a_ref] - ref[a_tp], abs_err);
    st->decode_agree += agree && decode;
    if (!(rel <= tol) && st->over++ < 5)
        printf("check: position %d: max abs err %.3e, max |ref| %.3e, rel %.3e over tolerance %.1e\n", pos,
               abs_err, scale, rel, tol);
    if (abs_err > st->max_abs || isnan(abs_err))
        st->max_abs = abs_err;
    if (rel > st->max_rel || isnan(rel)) {
        st->max_rel = rel;
        st->worst = pos;
    }
}

int tpt_check(const tpt_options *o, const tpt_result *r)
{
    tpt_model m = {0};
    tpt_state s = {0};
    check_stats st = {0};
    int V = o->cfg.vocab, positions = r->ntokens - 1, rc = 1;
    double tol = tpt_options_tolerance(o);
    float *lg = malloc((size_t)V * sizeof(float));
    if (!lg || reference_build(o, &m, &s) != 0) {
        fprintf(stderr, "tp_transformer: check: could not build the reference model\n");
        goto out;
    }
    double t0 = tpt_now();
    for (int pos = 0; pos < positions; pos++) {
        tpt_forward(&m, &s, &r->tokens[pos], 1, pos, lg, NULL);
        compare(r->logits + (size_t)pos * V, lg, V, tol, pos, pos >= o->prompt_tokens, &st);
    }
    double secs = tpt_now() - t0;
    rc = st.over == 0 && !isnan(st.max_rel) ? 0 : 1;
    printf("check: unsharded float32 reference on rank 0, %d positions one at a time (%.1f tok/s): max abs err "
           "%.3e, mean abs err %.3e, max rel err %.3e (position %d), tolerance %.1e for wire %s; argmax agrees at "
           "%d/%d (decode steps %d/%d): %s\n", positions, positions / secs, st.max_abs,
           st.values ? st.sum_abs / (double)st.values : 0.0, st.max_rel, st.worst, tol, tpt_wire_word(o->wire),
           st.argmax_agree, positions, st.decode_agree, positions - o->prompt_tokens, rc == 0 ? "PASS" : "FAIL");
out:
    tpt_state_free(&s);
    tpt_weights_free(&m.w);
    free(lg);
    return rc;
}
