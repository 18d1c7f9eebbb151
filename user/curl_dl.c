// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * libcurl loaded at run time, for the single-binary build (-DPYBPF_STATIC=ON):
 * the few libcurl functions push.c calls are defined here and forward to
 * libcurl.so.4, opened with dlopen by curl_global_init. So the binary
 * starts, profiles and writes files on a machine without libcurl; only
 * --push needs it, and without it pushing fails to start with one message.
 * Built only with PYBPF_CURL_DLOPEN; otherwise libcurl is linked as usual.
 *
 * The variadic curl_easy_setopt/getinfo pass on their one argument by the
 * option's type range (curl.h: long below CURLOPTTYPE_OBJECTPOINT, then
 * pointers and function pointers, curl_off_t from CURLOPTTYPE_OFF_T, then
 * blobs); getinfo always takes a pointer.
 */
#ifdef PYBPF_CURL_DLOPEN

#define CURL_DISABLE_TYPECHECK /* real functions here, not curl.h's checking macros */
#include <curl/curl.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>

static struct {
	void *lib;
	CURLcode (*global_init)(long);
	void (*global_cleanup)(void);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_perform)(CURL *);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	const char *(*easy_strerror)(CURLcode);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void *sym(const char *name)
{
	return fn.lib ? dlsym(fn.lib, name) : NULL;
}

/* Open libcurl and resolve every function, or leave fn.lib NULL. */
static void load(void)
{
	fn.lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!fn.lib)
		fn.lib = dlopen("libcurl-gnutls.so.4", RTLD_NOW | RTLD_LOCAL);
	*(void **)&fn.global_init = sym("curl_global_init");
	*(void **)&fn.global_cleanup = sym("curl_global_cleanup");
	*(void **)&fn.easy_init = sym("curl_easy_init");
	*(void **)&fn.easy_cleanup = sym("curl_easy_cleanup");
	*(void **)&fn.easy_setopt = sym("curl_easy_setopt");
	*(void **)&fn.easy_perform = sym("curl_easy_perform");
	*(void **)&fn.easy_getinfo = sym("curl_easy_getinfo");
	*(void **)&fn.easy_strerror = sym("curl_easy_strerror");
	*(void **)&fn.slist_append = sym("curl_slist_append");
	*(void **)&fn.slist_free_all = sym("curl_slist_free_all");
	if (fn.lib && !(fn.global_init && fn.global_cleanup && fn.easy_init && fn.easy_cleanup &&
			fn.easy_setopt && fn.easy_perform && fn.easy_getinfo && fn.easy_strerror &&
			fn.slist_append && fn.slist_free_all)) {
		dlclose(fn.lib);
		fn.lib = NULL;
	}
}

/* Every entry point but global_init is only reached after it succeeded. */
CURLcode curl_global_init(long flags)
{
	pthread_once(&load_once, load);
	return fn.lib ? fn.global_init(flags) : CURLE_FAILED_INIT;
}

void curl_global_cleanup(void)
{
	if (fn.lib)
		fn.global_cleanup();
}

CURL *curl_easy_init(void)
{
	return fn.lib ? fn.easy_init() : NULL;
}

void curl_easy_cleanup(CURL *curl)
{
	if (fn.lib)
		fn.easy_cleanup(curl);
}

CURLcode curl_easy_setopt(CURL *curl, CURLoption option, ...)
{
	CURLcode rc;
	va_list ap;

	va_start(ap, option);
	if (option < CURLOPTTYPE_OBJECTPOINT)
		rc = fn.easy_setopt(curl, option, va_arg(ap, long));
	else if (option < CURLOPTTYPE_OFF_T)
		rc = fn.easy_setopt(curl, option, va_arg(ap, void *));
	else if (option < CURLOPTTYPE_BLOB)
		rc = fn.easy_setopt(curl, option, va_arg(ap, curl_off_t));
	else
		rc = fn.easy_setopt(curl, option, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

CURLcode curl_easy_perform(CURL *curl)
{
	return fn.easy_perform(curl);
}

CURLcode curl_easy_getinfo(CURL *curl, CURLINFO info, ...)
{
	CURLcode rc;
	va_list ap;

	va_start(ap, info);
	rc = fn.easy_getinfo(curl, info, va_arg(ap, void *));
	va_end(ap);
	return rc;
}

const char *curl_easy_strerror(CURLcode code)
{
	return fn.lib ? fn.easy_strerror(code) : "libcurl not loaded";
}

struct curl_slist *curl_slist_append(struct curl_slist *list, const char *s)
{
	pthread_once(&load_once, load);
	return fn.lib ? fn.slist_append(list, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *list)
{
	if (fn.lib)
		fn.slist_free_all(list);
}

#else
typedef int pybpf_curl_dl_unused; /* ISO C: a translation unit is not empty */
#endif
