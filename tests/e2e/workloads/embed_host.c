// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * A program that is not called python, with CPython embedded: it runs the
 * Python file argv[1] as __main__ with sys.argv = argv[1:], like an
 * application that embeds the interpreter for its scripting (uWSGI,
 * Blender...). Built by test_packaging.py against each interpreter's headers
 * and libpython (shared or static), from that interpreter's sysconfig.
 *
 * usage: embedhost SCRIPT [ARG...]
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdio.h>

int main(int argc, char **argv)
{
	PyObject *args;
	FILE *f;
	int rc = 1;

	if (argc < 2) {
		fprintf(stderr, "usage: %s SCRIPT [ARG...]\n", argv[0]);
		return 2;
	}
	f = fopen(argv[1], "r");
	if (!f) {
		perror(argv[1]);
		return 2;
	}
	Py_Initialize();
	args = PyList_New(0);
	for (int i = 1; args && i < argc; i++) {
		PyObject *s = PyUnicode_DecodeFSDefault(argv[i]);

		if (!s || PyList_Append(args, s) < 0) {
			Py_XDECREF(s);
			Py_CLEAR(args);
			break;
		}
		Py_DECREF(s);
	}
	if (args && PySys_SetObject("argv", args) == 0)
		rc = PyRun_SimpleFileExFlags(f, argv[1], 1, NULL) == 0 ? 0 : 1;
	else
		fclose(f);
	Py_XDECREF(args);
	if (Py_FinalizeEx() < 0)
		rc = 1;
	return rc;
}
