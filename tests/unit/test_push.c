// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Unit tests for the pusher (user/push.c) against a small HTTP receiver
 * running on a thread of this test, on 127.0.0.1: the request it makes
 * (path, query, headers, a gzipped pprof body split by service), retries
 * after 503, a receiver that is down for a while, a full queue dropping the
 * oldest, answers that are not retried, and pusher__free with and without
 * time to drain. Every wait is bounded; the whole program takes a few
 * seconds. If PYBPF_PPROFCHECK names an executable, each body is also
 * parsed by google/pprof's own reader.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "profile.h"
#include "push.h"
#include "test.h"

extern char **environ;

/* 2023-11-14T22:13:20Z */
#define T0_NS (1700000000LL * 1000000000LL)
#define SEC_NS 1000000000LL

/* ---- the receiver ---- */

#define MAX_REQS 64
#define MAX_SCRIPT 16

struct req {
	char target[2048];
	char headers[4096];
	uint8_t *body;
	size_t len;
};

struct receiver {
	int lfd;
	uint16_t port;
	bool running;
	pthread_t thread;
	int stop;
	/* under lock */
	struct req reqs[MAX_REQS];
	int nreqs;
	int script[MAX_SCRIPT]; /* statuses for the next requests, then 200 */
	int nscript;
	int hang_ms;	 /* wait this long before answering */
	char reply[128]; /* body of every answer */
};

static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static struct receiver rx;

static int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

static bool stopping(void)
{
	return __atomic_load_n(&rx.stop, __ATOMIC_ACQUIRE);
}

/* Read into buf until the header end is in it; returns bytes read or -1. */
static ssize_t read_head(int fd, char *buf, size_t cap, char **body_start)
{
	size_t got = 0;

	while (got + 1 < cap) {
		ssize_t n = recv(fd, buf + got, cap - 1 - got, 0);

		if (n <= 0)
			return -1;
		got += (size_t)n;
		buf[got] = '\0';
		*body_start = strstr(buf, "\r\n\r\n");
		if (*body_start) {
			*body_start += 4;
			return (ssize_t)got;
		}
	}
	return -1;
}

static void handle(int fd)
{
	static char buf[1 << 16];
	char *body_start, *cl, *sp1, *sp2, resp[512];
	struct req r = {0};
	size_t have, want = 0;
	ssize_t got;
	int status = 200, hang, len;
	struct timeval tv = {3, 0};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	got = read_head(fd, buf, sizeof(buf), &body_start);
	if (got < 0)
		return;
	sp1 = strchr(buf, ' ');
	sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strncmp(buf, "POST ", 5))
		return;
	snprintf(r.target, sizeof(r.target), "%.*s", (int)(sp2 - sp1 - 1), sp1 + 1);
	snprintf(r.headers, sizeof(r.headers), "%.*s", (int)(body_start - buf), buf);
	cl = strcasestr(r.headers, "\r\ncontent-length:");
	if (cl)
		want = strtoul(cl + 17, NULL, 10);
	r.body = malloc(want + 1);
	if (!r.body)
		return;
	have = (size_t)got - (size_t)(body_start - buf);
	memcpy(r.body, body_start, have < want ? have : want);
	while (have < want) {
		ssize_t n = recv(fd, r.body + have, want - have, 0);

		if (n <= 0) {
			free(r.body);
			return;
		}
		have += (size_t)n;
	}
	r.len = want;

	pthread_mutex_lock(&rlock);
	if (rx.nreqs < MAX_REQS)
		rx.reqs[rx.nreqs++] = r;
	else
		free(r.body);
	if (rx.nscript) {
		status = rx.script[0];
		memmove(rx.script, rx.script + 1, (size_t)--rx.nscript * sizeof(int));
	}
	hang = rx.hang_ms;
	pthread_mutex_unlock(&rlock);

	for (int64_t until = mono_ms() + hang; mono_ms() < until && !stopping();)
		sleep_ms(10);
	len = snprintf(resp, sizeof(resp),
		       "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
		       status, strlen(rx.reply), rx.reply);
	send(fd, resp, (size_t)len, MSG_NOSIGNAL);
}

static void *receiver_main(void *arg)
{
	struct pollfd pfd = {.fd = rx.lfd, .events = POLLIN};

	(void)arg;
	while (!stopping()) {
		int fd;

		if (poll(&pfd, 1, 20) <= 0)
			continue;
		fd = accept4(rx.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			continue;
		handle(fd);
		close(fd);
	}
	return NULL;
}

/* Listen on 127.0.0.1:port (0: any free port, remembered in rx.port). */
static bool receiver_start(uint16_t port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	socklen_t alen = sizeof(a);
	int one = 1;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	rx.lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (rx.lfd < 0)
		return false;
	setsockopt(rx.lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(rx.lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(rx.lfd, 16) < 0 ||
	    getsockname(rx.lfd, (struct sockaddr *)&a, &alen) < 0) {
		close(rx.lfd);
		return false;
	}
	rx.port = ntohs(a.sin_port);
	__atomic_store_n(&rx.stop, 0, __ATOMIC_RELEASE);
	if (pthread_create(&rx.thread, NULL, receiver_main, NULL)) {
		close(rx.lfd);
		return false;
	}
	rx.running = true;
	return true;
}

static void receiver_stop(void)
{
	if (!rx.running)
		return;
	__atomic_store_n(&rx.stop, 1, __ATOMIC_RELEASE);
	pthread_join(rx.thread, NULL);
	close(rx.lfd);
	rx.running = false;
}

/* Forget the recorded requests and the script. */
static void receiver_reset(void)
{
	pthread_mutex_lock(&rlock);
	for (int i = 0; i < rx.nreqs; i++)
		free(rx.reqs[i].body);
	rx.nreqs = 0;
	rx.nscript = 0;
	rx.hang_ms = 0;
	snprintf(rx.reply, sizeof(rx.reply), "ok");
	pthread_mutex_unlock(&rlock);
}

static int nreqs(void)
{
	int n;

	pthread_mutex_lock(&rlock);
	n = rx.nreqs;
	pthread_mutex_unlock(&rlock);
	return n;
}

/* Wait (at most timeout_ms) for the receiver to have n requests. */
static bool wait_reqs(int n, int timeout_ms)
{
	for (int64_t until = mono_ms() + timeout_ms; mono_ms() < until; sleep_ms(10)) {
		if (nreqs() >= n)
			return true;
	}
	return nreqs() >= n;
}

static bool wait_stats(struct pusher *p, bool (*ok)(const struct push_stats *), int timeout_ms)
{
	struct push_stats st;

	for (int64_t until = mono_ms() + timeout_ms; mono_ms() < until; sleep_ms(10)) {
		pusher__stats(p, &st);
		if (ok(&st))
			return true;
	}
	pusher__stats(p, &st);
	return ok(&st);
}

/* ---- reading a request ---- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The decoded value of query parameter `key` in target, into out ("" if absent). */
static const char *query_get(const char *target, const char *key, char *out, size_t outlen)
{
	const char *q = strchr(target, '?');
	size_t klen = strlen(key), n = 0;

	out[0] = '\0';
	while (q) {
		q++;
		if (!strncmp(q, key, klen) && q[klen] == '=') {
			for (const char *s = q + klen + 1; *s && *s != '&' && n + 1 < outlen; s++) {
				if (*s == '%' && hexval(s[1]) >= 0 && hexval(s[2]) >= 0) {
					out[n++] = (char)(hexval(s[1]) * 16 + hexval(s[2]));
					s += 2;
				} else {
					out[n++] = *s == '+' ? ' ' : *s;
				}
			}
			out[n] = '\0';
			return out;
		}
		q = strchr(q, '&');
	}
	return out;
}

static bool has_header(const struct req *r, const char *line)
{
	char needle[256];

	snprintf(needle, sizeof(needle), "\r\n%s\r\n", line);
	return strcasestr(r->headers, needle) != NULL;
}

/* Inflate a gzip body. NULL if it is not one. Caller frees. */
static uint8_t *gunzip(const uint8_t *in, size_t inlen, size_t *outlen)
{
	z_stream z = {0};
	size_t cap = 1 << 16;
	uint8_t *out = malloc(cap);
	int rc;

	if (!out || inlen < 2 || in[0] != 0x1f || in[1] != 0x8b ||
	    inflateInit2(&z, 15 + 16) != Z_OK) {
		free(out);
		return NULL;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)inlen;
	do {
		if (z.total_out == cap) {
			uint8_t *grown = realloc(out, cap * 2);

			if (!grown)
				break;
			out = grown;
			cap *= 2;
		}
		z.next_out = out + z.total_out;
		z.avail_out = (uInt)(cap - z.total_out);
		rc = inflate(&z, Z_NO_FLUSH);
	} while (rc == Z_OK);
	*outlen = z.total_out;
	inflateEnd(&z);
	if (rc != Z_STREAM_END || z.avail_in) {
		free(out);
		return NULL;
	}
	return out;
}

static bool pb_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64 && *p < end; shift += 7) {
		uint8_t b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
	}
	return false;
}

struct pb_summary {
	bool ok;
	size_t samples;
	size_t strings;
	bool has_string[4]; /* of the strings asked for */
};

/*
 * Walk the top level of a Profile message: every field well-formed, count
 * samples (field 2) and string_table entries (field 6), note which of
 * `want` are in the string table.
 */
static struct pb_summary pb_walk(const uint8_t *buf, size_t len, const char *const want[4])
{
	const uint8_t *p = buf, *end = buf + len;
	struct pb_summary s = {.ok = true};

	while (p < end && s.ok) {
		uint64_t key, v;

		if (!pb_varint(&p, end, &key)) {
			s.ok = false;
			break;
		}
		switch (key & 7) {
		case 0:
			s.ok = pb_varint(&p, end, &v);
			break;
		case 2:
			s.ok = pb_varint(&p, end, &v) && v <= (uint64_t)(end - p);
			if (!s.ok)
				break;
			if (key >> 3 == 2)
				s.samples++;
			if (key >> 3 == 6) {
				s.strings++;
				for (int i = 0; i < 4; i++) {
					if (want[i] && strlen(want[i]) == v &&
					    !memcmp(p, want[i], v))
						s.has_string[i] = true;
				}
			}
			p += v;
			break;
		default:
			s.ok = false;
		}
	}
	return s;
}

/* Run PYBPF_PPROFCHECK on the body; its JSON output must contain `expect`. */
static void pprofcheck(const struct req *r, const char *expect, const char *absent)
{
	const char *checker = getenv("PYBPF_PPROFCHECK");
	char path[] = "/tmp/test_push.XXXXXX.pb.gz", out[] = "/tmp/test_push.XXXXXX.json";
	posix_spawn_file_actions_t fa;
	char *argv[3], *json = NULL;
	int fd, ofd, status = -1;
	ssize_t n = 0;
	pid_t pid;

	if (!checker || access(checker, X_OK) != 0)
		return;
	fd = mkstemps(path, 6);
	ofd = mkstemps(out, 5);
	CHECK(fd >= 0 && ofd >= 0);
	if (fd < 0 || ofd < 0)
		goto out;
	CHECK_EQ_INT(write(fd, r->body, r->len), (long long)r->len);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ofd, STDOUT_FILENO);
	argv[0] = (char *)checker;
	argv[1] = path;
	argv[2] = NULL;
	CHECK_EQ_INT(posix_spawn(&pid, checker, &fa, NULL, argv, environ), 0);
	posix_spawn_file_actions_destroy(&fa);
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	json = calloc(1, 1 << 20);
	if (json) {
		n = pread(ofd, json, (1 << 20) - 1, 0);
		CHECK(n > 0);
		CHECK(strstr(json, expect) != NULL);
		if (absent)
			CHECK(strstr(json, absent) == NULL);
	}
	free(json);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	if (ofd >= 0) {
		close(ofd);
		unlink(out);
	}
}

/* ---- profiles ---- */

static struct profile *make_profile(void)
{
	struct profile_meta meta = {
	    .period_ns = 10101010, .time_ns = T0_NS, .duration_ns = 60 * SEC_NS};
	struct profile *p = profile__new(&meta);
	struct profile_frame api[] = {
	    {"Handler.get", "/srv/api/views.py", 42, 40, 0, 0, NULL},
	    {"<module>", "/srv/api/server.py", 7, 1, 0, 0, NULL},
	};
	struct profile_frame wrk[] = {
	    {"crunch", "/srv/jobs/work.py", 12, 10, 0, 0, NULL},
	    {"Worker.run", "/srv/jobs/work.py", 30, 25, 0, 0, NULL},
	    {"<module>", "/srv/jobs/main.py", 3, 1, 0, 0, NULL},
	};
	struct profile_labels l_api1 = {1, 1, "python3", "MainThread", "abc123", "api", 0, NULL, NULL};
	struct profile_labels l_api2 = {1, 2, "python3", "Thread-1", "abc123", "api", 0, NULL, NULL};
	struct profile_labels l_wrk1 = {2, 2, "celery", "MainThread", "c1", "worker", 0, NULL, NULL};
	struct profile_labels l_wrk2 = {3, 3, "celery", "MainThread", "c2", "worker", 0, NULL, NULL};
	struct profile_labels l_none = {4, 4, "python3", "MainThread", NULL, NULL, 0, NULL, NULL};

	if (!p)
		return NULL;
	if (profile__add(p, &l_api1, api, 2, 5) || profile__add(p, &l_wrk1, wrk, 3, 7) ||
	    profile__add(p, &l_api2, api, 1, 2) || profile__add(p, &l_wrk2, wrk + 1, 2, 1) ||
	    profile__add(p, &l_none, wrk, 1, 4)) {
		profile__free(p);
		return NULL;
	}
	return p;
}

/* One service, one sample. */
static struct profile *make_small(void)
{
	struct profile_meta meta = {.period_ns = 10101010, .time_ns = T0_NS, .duration_ns = SEC_NS};
	struct profile *p = profile__new(&meta);
	struct profile_frame f = {"f", "/x.py", 1, 1, 0, 0, NULL};
	struct profile_labels l = {1, 1, "python3", "MainThread", NULL, "svc", 0, NULL, NULL};

	if (p && profile__add(p, &l, &f, 1, 1)) {
		profile__free(p);
		return NULL;
	}
	return p;
}

/* What on_result reported, in order (written by the sending thread). */
static struct {
	pthread_mutex_t lock;
	struct push_result r[16];
	char service[16][64];
	int n;
} results = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void on_result(void *arg, const struct push_result *r)
{
	(void)arg;
	pthread_mutex_lock(&results.lock);
	if (results.n < 16) {
		results.r[results.n] = *r;
		snprintf(results.service[results.n], sizeof(results.service[0]), "%s", r->service);
		results.r[results.n].service = results.service[results.n];
		results.r[results.n].error = NULL; /* only valid during the call */
		results.n++;
	}
	pthread_mutex_unlock(&results.lock);
}

static struct pusher *new_pusher(uint16_t port, size_t max_queue, unsigned int retry_min_ms,
				 unsigned int retry_max_ms, unsigned int attempts)
{
	static const char *const headers[] = {"Authorization: Bearer t0k", "X-Scope-OrgID: team-a"};
	char url[64];
	struct push_opts o = {
	    .url = url,
	    .headers = headers,
	    .nheaders = 2,
	    .max_queue_bytes = max_queue,
	    .timeout_s = 2,
	    .sample_rate_hz = 99,
	    .retry_min_ms = retry_min_ms,
	    .retry_max_ms = retry_max_ms,
	    .max_attempts = attempts,
	    .on_result = on_result,
	};
	struct pusher *p;

	pthread_mutex_lock(&results.lock);
	results.n = 0;
	pthread_mutex_unlock(&results.lock);
	/* a trailing slash must not give "//ingest" */
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/", port);
	p = pusher__new(&o);
	CHECK(p != NULL);
	return p;
}

/* A port on which nothing listens (for a while): bound, then closed. */
static uint16_t free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	uint16_t port = 0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &alen) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

/* ---- tests ---- */

static const struct req *find_req(const char *name)
{
	char buf[256];

	for (int i = 0; i < rx.nreqs; i++) {
		if (!strcmp(query_get(rx.reqs[i].target, "name", buf, sizeof(buf)), name))
			return &rx.reqs[i];
	}
	return NULL;
}

/* The body's string table holds `present`, not `absent`; `samples` samples. */
static void check_body(const struct req *r, const char *present, const char *absent, size_t samples)
{
	const char *want[4] = {present, absent, "cpu", "nanoseconds"};
	struct pb_summary s;
	uint8_t *raw;
	size_t len = 0;

	raw = gunzip(r->body, r->len, &len);
	CHECK(raw != NULL);
	if (!raw)
		return;
	s = pb_walk(raw, len, want);
	CHECK(s.ok);
	CHECK_EQ_INT(s.samples, samples);
	CHECK(s.has_string[0]);
	CHECK(!s.has_string[1]);
	CHECK(s.has_string[2] && s.has_string[3]);
	free(raw);
}

static void test_request_split_by_service(void)
{
	struct profile *prof = make_profile();
	struct pusher *p = NULL;
	struct push_stats st;
	const struct req *r;
	char v[256], jsonsvc[64];

	receiver_reset();
	CHECK(prof && receiver_start(0));
	if (!prof || !rx.running)
		goto out;
	p = new_pusher(rx.port, 0, 100, 400, 3);
	if (!p)
		goto out;
	CHECK_EQ_INT(
	    pusher__push(p, prof, "node-1.example", T0_NS + SEC_NS / 2, T0_NS + 60 * SEC_NS + 200),
	    0);
	CHECK(wait_reqs(3, 5000));
	sleep_ms(50);
	CHECK_EQ_INT(nreqs(), 3);

	pthread_mutex_lock(&rlock);
	for (int i = 0; i < rx.nreqs; i++) {
		r = &rx.reqs[i];
		CHECK(!strncmp(r->target, "/ingest?", 8));
		CHECK_EQ_STR(query_get(r->target, "from", v, sizeof(v)), "1700000000");
		CHECK_EQ_STR(query_get(r->target, "until", v, sizeof(v)), "1700000061");
		CHECK_EQ_STR(query_get(r->target, "format", v, sizeof(v)), "pprof");
		CHECK_EQ_STR(query_get(r->target, "sampleRate", v, sizeof(v)), "99");
		CHECK_EQ_STR(query_get(r->target, "spyName", v, sizeof(v)), "pyspy");
		/* the name is sent percent-encoded: no raw braces, commas or '=' in it */
		CHECK(strstr(r->target, "name=") && !strpbrk(strstr(r->target, "name="), "{},"));
		CHECK(has_header(r, "Authorization: Bearer t0k"));
		CHECK(has_header(r, "X-Scope-OrgID: team-a"));
		CHECK(has_header(r, "Content-Type: application/octet-stream"));
		CHECK(strcasestr(r->headers, "\r\nExpect:") == NULL);
	}
	/* all of api's samples are in one container; worker's are in two */
	r = find_req("api{host=node-1.example,container_id=abc123}");
	CHECK(r != NULL);
	if (r) {
		check_body(r, "Handler.get", "worker", 2);
		/* the service is the series' service_name: no `service` sample label */
		check_body(r, "Handler.get", "api", 2);
		snprintf(jsonsvc, sizeof(jsonsvc), "\"container_id\":[\"abc123\"]");
		pprofcheck(r, jsonsvc, "\"service\"");
	}
	r = find_req("worker{host=node-1.example}");
	CHECK(r != NULL);
	if (r) {
		check_body(r, "Worker.run", "worker", 2);
		check_body(r, "Worker.run", "Handler.get", 2);
		pprofcheck(r, "\"function\":\"Worker.run\"", "Handler.get");
	}
	r = find_req("python{host=node-1.example}");
	CHECK(r != NULL);
	if (r)
		check_body(r, "crunch", "api", 1);
	pthread_mutex_unlock(&rlock);

	pusher__stop(p, 5);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.sent, 3);
	CHECK_EQ_INT(st.sent_samples, 5 + 7 + 2 + 1 + 4); /* every sample of the profile */
	CHECK(st.sent_bytes > 0);
	pthread_mutex_lock(&results.lock);
	CHECK_EQ_INT(results.n, 3);
	for (int i = 0; i < results.n; i++) {
		CHECK_EQ_INT(results.r[i].outcome, PUSH_SENT);
		CHECK_EQ_INT(results.r[i].status, 200);
		CHECK_EQ_INT(results.r[i].attempt, 1);
		CHECK(results.r[i].latency_ms >= 0 && results.r[i].latency_ms < 5000);
		CHECK(results.r[i].bytes > 0);
		if (!strcmp(results.r[i].service, "api"))
			CHECK_EQ_INT(results.r[i].samples, 7);
		else if (!strcmp(results.r[i].service, "worker"))
			CHECK_EQ_INT(results.r[i].samples, 8);
		else
			CHECK_EQ_STR(results.r[i].service, "python");
	}
	pthread_mutex_unlock(&results.lock);
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(st.dropped, 0);
	CHECK_EQ_INT(st.queued, 0);
	CHECK_EQ_INT(st.queued_bytes, 0);
	CHECK_EQ_STR(st.last_error, "");
out:
	pusher__free(p, 0);
	receiver_stop();
	profile__free(prof);
}

static bool one_sent(const struct push_stats *st)
{
	return st->sent >= 1;
}

static void test_retry_after_503(void)
{
	struct profile *prof = make_small();
	struct pusher *p = NULL;
	struct push_stats st;
	int64_t t0;

	receiver_reset();
	rx.script[0] = rx.script[1] = 503;
	rx.nscript = 2;
	snprintf(rx.reply, sizeof(rx.reply), "ingester busy");
	CHECK(prof && receiver_start(0));
	if (!prof || !rx.running)
		goto out;
	p = new_pusher(rx.port, 0, 100, 1000, 5);
	if (!p)
		goto out;
	t0 = mono_ms();
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	CHECK(wait_stats(p, one_sent, 5000));
	/* backoff: at least 50 ms (100 with jitter) then 100 (200 with jitter) */
	CHECK(mono_ms() - t0 >= 150);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.sent, 1);
	CHECK_EQ_INT(st.failed, 2);
	CHECK_EQ_INT(st.dropped, 0);
	CHECK_EQ_INT(st.queued, 0);
	CHECK(strstr(st.last_error, "HTTP 503") != NULL);
	CHECK(strstr(st.last_error, "ingester busy") != NULL);
	CHECK_EQ_INT(nreqs(), 3);
	pthread_mutex_lock(&results.lock);
	CHECK_EQ_INT(results.n, 3);
	if (results.n == 3) {
		CHECK(results.r[0].outcome == PUSH_RETRY && results.r[0].status == 503 &&
		      results.r[0].attempt == 1);
		CHECK(results.r[1].outcome == PUSH_RETRY && results.r[1].attempt == 2);
		CHECK(results.r[2].outcome == PUSH_SENT && results.r[2].status == 200 &&
		      results.r[2].attempt == 3);
		CHECK_EQ_STR(results.r[2].service, "svc");
	}
	pthread_mutex_unlock(&results.lock);
	pthread_mutex_lock(&rlock);
	for (int i = 1; i < rx.nreqs; i++) {
		CHECK_EQ_STR(rx.reqs[i].target, rx.reqs[0].target);
		CHECK(rx.reqs[i].len == rx.reqs[0].len &&
		      !memcmp(rx.reqs[i].body, rx.reqs[0].body, rx.reqs[0].len));
	}
	pthread_mutex_unlock(&rlock);
out:
	pusher__free(p, 0);
	receiver_stop();
	profile__free(prof);
}

static bool two_failed(const struct push_stats *st)
{
	return st->failed >= 2;
}

static bool one_failed(const struct push_stats *st)
{
	return st->failed >= 1;
}

static bool two_sent(const struct push_stats *st)
{
	return st->sent >= 2;
}

static void test_receiver_down_then_up(void)
{
	struct profile *prof = make_small();
	uint16_t port = free_port();
	struct pusher *p = NULL;
	struct push_stats st;
	char a[32], b[32];

	receiver_reset();
	CHECK(prof && port);
	if (!prof || !port)
		goto out;
	p = new_pusher(port, 0, 100, 400, 100);
	if (!p)
		goto out;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS + SEC_NS, T0_NS + 2 * SEC_NS), 0);
	CHECK(wait_stats(p, two_failed, 3000));
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.sent, 0);
	CHECK_EQ_INT(st.queued, 2);
	CHECK(st.queued_bytes > 0);
	CHECK(st.last_error[0] != '\0');

	CHECK(receiver_start(port));
	CHECK(wait_stats(p, two_sent, 5000));
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.sent, 2);
	CHECK_EQ_INT(st.dropped, 0);
	CHECK_EQ_INT(st.queued, 0);
	CHECK_EQ_INT(nreqs(), 2);
	/* in order */
	pthread_mutex_lock(&rlock);
	if (rx.nreqs == 2) {
		CHECK_EQ_STR(query_get(rx.reqs[0].target, "from", a, sizeof(a)), "1700000000");
		CHECK_EQ_STR(query_get(rx.reqs[1].target, "from", b, sizeof(b)), "1700000001");
	}
	pthread_mutex_unlock(&rlock);
out:
	pusher__free(p, 0);
	receiver_stop();
	profile__free(prof);
}

static void test_queue_overflow_drops_oldest(void)
{
	struct profile *prof = make_small();
	uint16_t port = free_port();
	struct pusher *p = NULL;
	struct push_stats st;
	uint64_t size;
	char v[32];

	receiver_reset();
	CHECK(prof && port);
	if (!prof || !port)
		goto out;

	/* the size of one body (all bodies here are the same size) */
	p = new_pusher(port, 0, 5000, 5000, 100);
	if (!p)
		goto out;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	pusher__stats(p, &st);
	size = st.queued_bytes;
	CHECK(size > 0);
	pusher__free(p, 0);

	/* room for three and a half; the first attempt fails, then a 1 s backoff */
	p = new_pusher(port, size * 7 / 2, 1000, 1000, 100);
	if (!p)
		goto out;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	CHECK(wait_stats(p, one_failed, 3000));
	for (int i = 1; i < 6; i++)
		CHECK_EQ_INT(
		    pusher__push(p, prof, "h", T0_NS + i * SEC_NS, T0_NS + (i + 1) * SEC_NS), 0);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.dropped, 3);
	CHECK_EQ_INT(st.queued, 3);
	CHECK(st.queued_bytes <= size * 7 / 2);
	CHECK(strstr(st.last_error, "queue full") != NULL);

	/* the receiver comes up: the three newest arrive, oldest first */
	CHECK(receiver_start(port));
	CHECK(wait_reqs(3, 5000));
	sleep_ms(50);
	CHECK_EQ_INT(nreqs(), 3);
	pthread_mutex_lock(&rlock);
	for (int i = 0; i < rx.nreqs && i < 3; i++) {
		char expect[16];

		snprintf(expect, sizeof(expect), "%d", 1700000003 + i);
		CHECK_EQ_STR(query_get(rx.reqs[i].target, "from", v, sizeof(v)), expect);
	}
	pthread_mutex_unlock(&rlock);
	pusher__free(p, 0);

	/* a body larger than the whole queue is dropped at once */
	p = new_pusher(port, 16, 100, 100, 3);
	if (!p)
		goto out;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.dropped, 1);
	CHECK_EQ_INT(st.queued, 0);
out:
	pusher__free(p, 0);
	receiver_stop();
	profile__free(prof);
}

static bool gave_up(const struct push_stats *st)
{
	return st->dropped >= 1;
}

/* 4xx other than 408/429 will not get better: dropped without a retry. */
static void test_client_error_not_retried(void)
{
	struct profile *prof = make_small();
	struct pusher *p = NULL;
	struct push_stats st;

	receiver_reset();
	rx.script[0] = 400;
	rx.nscript = 1;
	snprintf(rx.reply, sizeof(rx.reply), "name: invalid\napp name");
	CHECK(prof && receiver_start(0));
	if (!prof || !rx.running)
		goto out;
	p = new_pusher(rx.port, 0, 50, 50, 5);
	if (!p)
		goto out;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	CHECK(wait_stats(p, gave_up, 3000));
	sleep_ms(200);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.dropped, 1);
	CHECK_EQ_INT(st.sent, 0);
	CHECK_EQ_INT(st.failed, 0);
	CHECK_EQ_INT(nreqs(), 1);
	CHECK(strstr(st.last_error, "HTTP 400: name: invalid app name") != NULL);

	/* retries are bounded too: 503 forever gives up after max_attempts */
	receiver_reset();
	for (int i = 0; i < 5; i++)
		rx.script[i] = 503;
	rx.nscript = 5;
	CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
	CHECK(wait_reqs(5, 3000));
	sleep_ms(200);
	pusher__stats(p, &st);
	CHECK_EQ_INT(st.dropped, 2);
	CHECK_EQ_INT(st.failed, 5);
	CHECK_EQ_INT(nreqs(), 5);
out:
	pusher__free(p, 0);
	receiver_stop();
	profile__free(prof);
}

static void test_free_with_drain(void)
{
	struct profile *prof = make_small();
	uint16_t port = free_port();
	struct pusher *p = NULL;
	int64_t t0;

	receiver_reset();
	CHECK(prof && receiver_start(0));
	if (!prof || !rx.running)
		goto out;

	/* everything queued is delivered before free returns */
	p = new_pusher(rx.port, 0, 100, 100, 3);
	if (p) {
		for (int i = 0; i < 4; i++)
			CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS + i * SEC_NS,
						  T0_NS + (i + 1) * SEC_NS),
				     0);
		pusher__free(p, 5);
		CHECK_EQ_INT(nreqs(), 4);
	}

	/* a server that never answers: free returns at the drain deadline */
	receiver_reset();
	rx.hang_ms = 10000;
	p = new_pusher(rx.port, 0, 100, 100, 3);
	if (p) {
		CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
		CHECK(wait_reqs(1, 3000));
		t0 = mono_ms();
		pusher__free(p, 1);
		CHECK(mono_ms() - t0 < 2500);
	}

	/* nobody listening and no time to drain: free returns at once */
	p = new_pusher(port, 0, 2000, 2000, 3);
	if (p) {
		CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
		t0 = mono_ms();
		pusher__free(p, 0);
		CHECK(mono_ms() - t0 < 1500);
	}
	/* ...and with time to drain but a retry only after it: also at once */
	p = new_pusher(port, 0, 5000, 5000, 3);
	if (p) {
		CHECK_EQ_INT(pusher__push(p, prof, "h", T0_NS, T0_NS + SEC_NS), 0);
		CHECK(wait_stats(p, one_failed, 3000));
		t0 = mono_ms();
		pusher__free(p, 1);
		CHECK(mono_ms() - t0 < 500);
	}
	p = NULL;
out:
	receiver_stop();
	receiver_reset();
	profile__free(prof);
}

static void test_bad_arguments(void)
{
	static const char *const bad_header[] = {"NoColonHere"};
	struct push_opts o = {.url = "http://127.0.0.1:1"};
	struct profile_meta meta = {.period_ns = 1};
	struct profile *empty = profile__new(&meta);
	struct pusher *p;
	struct push_stats st;

	errno = 0;
	CHECK(pusher__new(NULL) == NULL && errno == EINVAL);
	o.url = NULL;
	CHECK(pusher__new(&o) == NULL && errno == EINVAL);
	o.url = "ftp://example";
	CHECK(pusher__new(&o) == NULL && errno == EINVAL);
	o.url = "http://127.0.0.1:1/x?y=1";
	CHECK(pusher__new(&o) == NULL && errno == EINVAL);
	o.url = "http://127.0.0.1:1";
	o.headers = bad_header;
	o.nheaders = 1;
	CHECK(pusher__new(&o) == NULL && errno == EINVAL);
	o.nheaders = 0;
	p = pusher__new(&o);
	CHECK(p != NULL);
	CHECK_EQ_INT(pusher__push(NULL, empty, "h", 0, 0), -EINVAL);
	CHECK_EQ_INT(pusher__push(p, NULL, "h", 0, 0), -EINVAL);
	/* nothing to send for an empty interval */
	CHECK_EQ_INT(pusher__push(p, empty, "h", 0, 0), 0);
	if (p) {
		pusher__stats(p, &st);
		CHECK_EQ_INT(st.queued, 0);
	}
	pusher__free(p, 0);
	pusher__free(NULL, 0);
	profile__free(empty);
}

TEST_MAIN(TEST(test_request_split_by_service), TEST(test_retry_after_503),
	  TEST(test_receiver_down_then_up), TEST(test_queue_overflow_drops_oldest),
	  TEST(test_client_error_not_retried), TEST(test_free_with_drain), TEST(test_bad_arguments))
