// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
#include <errno.h>
#include <unistd.h>

#include "container.h"
#include "test.h"

#define H64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

static void expect(const char *path, const char *id)
{
	char out[128] = "";
	int err = container__id_from_cgroup(path, out, sizeof(out));

	if (id) {
		CHECK_EQ_INT(err, 0);
		CHECK_EQ_STR(out, id);
	} else {
		CHECK_EQ_INT(err, -ENOENT);
	}
}

static void test_runtimes(void)
{
	expect("/system.slice/docker-" H64 ".scope", H64);
	expect("/docker/" H64, H64);
	expect("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1a2b.slice/"
	       "cri-containerd-" H64 ".scope",
	       H64);
	expect("/kubepods/burstable/pod1a2b-33/" H64, H64);
	expect("/kubepods.slice/kubepods-pod1.slice/crio-" H64 ".scope", H64);
	expect("/machine.slice/libpod-" H64 ".scope/container", H64);
	expect("/machine.slice/machine-web1.scope", "web1");
	expect("/lxc/web2", "web2");
	expect("/lxc.payload.web3", "web3");
}

static void test_host(void)
{
	expect("/", NULL);
	expect("", NULL);
	expect("/user.slice/user-0.slice/session-3.scope", NULL);
	expect("/system.slice/ssh.service", NULL);
	expect("/docker-" "0123" ".scope", NULL); /* too short to be an id */
	expect("/kubepods/burstable/pod1a2b-33", NULL);
}

static void test_small_buffer(void)
{
	char out[8];

	CHECK_EQ_INT(container__id_from_cgroup("/docker/" H64, out, sizeof(out)), -ENOENT);
}

static void test_self(void)
{
	char out[128];
	int err = container__id("/proc", getpid(), out, sizeof(out));

	CHECK(err == 0 || err == -ENOENT);
	CHECK_EQ_INT(container__id("/proc", -1, out, sizeof(out)), -ENOENT);
}

TEST_MAIN(TEST(test_runtimes), TEST(test_host), TEST(test_small_buffer), TEST(test_self))
