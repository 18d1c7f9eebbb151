// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include "kallsyms.h"

#include "array.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct ksym {
	uint64_t addr;
	char *name;
};

struct kallsyms {
	struct ksym *syms;
	size_t n, cap;
};

void kallsyms__free(struct kallsyms *k)
{
	if (!k)
		return;
	for (size_t i = 0; i < k->n; i++)
		free(k->syms[i].name);
	free(k->syms);
	free(k);
}

static int cmp_ksym(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Keep one text symbol; 0 or -ENOMEM. */
static int add(struct kallsyms *k, uint64_t addr, const char *name)
{
	if (array__reserve((void **)&k->syms, &k->cap, k->n + 1, sizeof(*k->syms)))
		return -ENOMEM;
	k->syms[k->n].name = strdup(name);
	if (!k->syms[k->n].name)
		return -ENOMEM;
	k->syms[k->n++].addr = addr;
	return 0;
}

struct kallsyms *kallsyms__parse(FILE *f)
{
	struct kallsyms *k = calloc(1, sizeof(*k));
	char line[512], name[256], type;
	unsigned long long addr;
	int err = ENOMEM;

	if (!k)
		goto out_err;
	while (fgets(line, sizeof(line), f)) {
		/* "ffffffff81000000 T _stext" with an optional "\t[module]" */
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		if (!addr || (type != 'T' && type != 't' && type != 'W' && type != 'w'))
			continue;
		if (add(k, addr, name))
			goto out_err;
	}
	if (!k->n) {
		err = ENOENT;
		goto out_err;
	}
	qsort(k->syms, k->n, sizeof(*k->syms), cmp_ksym);
	return k;

out_err:
	kallsyms__free(k);
	errno = err;
	return NULL;
}

struct kallsyms *kallsyms__load(const char *path)
{
	FILE *f = fopen(path, "re");
	struct kallsyms *k;
	int err;

	if (!f)
		return NULL;
	k = kallsyms__parse(f);
	err = errno;
	fclose(f);
	errno = err;
	return k;
}

const char *kallsyms__name(const struct kallsyms *k, uint64_t addr)
{
	size_t lo = 0, hi = k->n;

	/* Last symbol with syms[i].addr <= addr. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->syms[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo ? k->syms[lo - 1].name : NULL;
}

size_t kallsyms__count(const struct kallsyms *k)
{
	return k->n;
}
