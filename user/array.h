/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Growable arrays: the one "double the capacity when full" helper of the
 * userspace modules (element count and capacity are the caller's).
 */
#ifndef PYBPF_ARRAY_H
#define PYBPF_ARRAY_H

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

/* The capacity of an array's first allocation, in elements. */
#define ARRAY_MIN_CAP 16

/*
 * Make room for `need` elements of `elem` bytes in *items (capacity *cap),
 * doubling the capacity from ARRAY_MIN_CAP. 0 or -ENOMEM; on failure *items
 * and *cap are unchanged. Usage:
 *	err = array__reserve((void **)&v, &v_cap, n + 1, sizeof(*v));
 */
static inline int array__reserve(void **items, size_t *cap, size_t need, size_t elem)
{
	size_t new_cap = *cap ? *cap : ARRAY_MIN_CAP;
	void *grown;

	if (need <= *cap)
		return 0;
	while (new_cap < need) {
		if (new_cap > SIZE_MAX / 2)
			return -ENOMEM;
		new_cap *= 2;
	}
	grown = reallocarray(*items, new_cap, elem);
	if (!grown)
		return -ENOMEM;
	*items = grown;
	*cap = new_cap;
	return 0;
}

#endif
