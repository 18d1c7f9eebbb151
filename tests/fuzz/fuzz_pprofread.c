// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libFuzzer target for the pprof reader (user/pprofread.c), and for every
 * writer over what it accepts: `convert` runs exactly this on untrusted
 * files. Build and run (clang's libFuzzer, ASan + UBSan):
 *
 *   tools/fuzz.sh 300 pprofread
 * (seeds: build/fuzz/seeds/pprofread, written at build time by
 * tests/fuzz/record_pprof.c and gen_seeds.py).
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

#include "pprofread.h"
#include "profile.h"
#include "writer.h"

static int devnull = -1;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct profile *p = NULL;
	char why[256];

	if (devnull < 0)
		devnull = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (pprofread__parse(data, size, &p, why, sizeof(why)))
		return 0;
	for (int f = 0; f < FORMAT__COUNT; f++) {
		struct writer_opts o = {.format = (enum output_format)f,
					.per_process = f == FORMAT_TEXT};

		writer__write(&o, p, devnull);
	}
	profile__free(p);
	return 0;
}
