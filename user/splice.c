// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "splice.h"

#include <string.h>

#define EVAL_NAME "_PyEval_EvalFrameDefault"

bool splice__is_eval(const char *name)
{
	size_t n = sizeof(EVAL_NAME) - 1;

	/* ".cold", ".part.0", ".constprop.0": pieces gcc splits off. */
	return name && strncmp(name, EVAL_NAME, n) == 0 && (name[n] == '\0' || name[n] == '.');
}

static bool is_entry(const struct splice_in *in, size_t i)
{
	return !in->entry || ((in->entry[i / 64] >> (i % 64)) & 1);
}

/* Activations in the Python stack: its outermost frame ends one too. */
static size_t activations(const struct splice_in *in)
{
	size_t n = 0;

	for (size_t i = 0; i < in->npython; i++)
		n += is_entry(in, i) || i + 1 == in->npython;
	return n;
}

size_t splice__merge(const struct splice_in *in, struct splice_item *out)
{
	size_t n = 0, py = 0, evals = 0, skip;

	for (size_t i = 0; i < in->nnative; i++)
		evals += in->is_eval[i];
	skip = evals > activations(in) ? evals - activations(in) : 0;
	for (size_t i = 0; i < in->nnative; i++) {
		if (!in->is_eval[i] || py >= in->npython || (skip && skip--)) {
			out[n++] = (struct splice_item){SPLICE_NATIVE, (uint32_t)i};
			continue;
		}
		/* One activation: Python frames down to its first frame. */
		do {
			out[n++] = (struct splice_item){SPLICE_PYTHON, (uint32_t)py};
		} while (!is_entry(in, py++) && py < in->npython);
	}
	while (py < in->npython)
		out[n++] = (struct splice_item){SPLICE_PYTHON, (uint32_t)py++};
	return n;
}
