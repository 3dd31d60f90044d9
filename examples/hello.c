/* SPDX-License-Identifier: ISC */
/* hello.c: libobjd's example. Stores two keys in one change, reads them
 * back, lists the keys and deletes one.
 *
 *	cc -o hello hello.c $(pkg-config --cflags --libs libobjd)
 *	./hello [SOCKET]
 *
 * Without SOCKET it talks to the objd that objctl would ($OBJD_SOCKET or
 * the default). It exits with objctl's codes: 3 if objd cannot be
 * reached. */
#include <stdio.h>
#include <stdlib.h>

#include <objd/objd-client.h>

/* Reports a failed call in the client's words and returns its status. */
static int
fail(objd_client *c, const char *what, int status)
{
	fprintf(stderr, "hello: %s: %s (%s)\n", what, objd_client_error(c),
	    objd_strerror(status));
	objd_close(c);
	return status;
}

int
main(int argc, char **argv)
{
	const char *keys[] = { "name", "age" };
	const Objd__Value *values[2];
	Objd__Value *name, *age, *got;
	Objd__Response *resp;
	objd_client *c;
	char err[256], *json;
	int status;

	status =
	    objd_connect(argc > 1 ? argv[1] : NULL, 10, &c, err, sizeof(err));
	if (status != OBJD_OK) {
		fprintf(stderr, "hello: %s\n", err);
		return status;
	}

	/* Both keys change in one atomic step, or neither does. */
	values[0] = name = objd_value_new_string("John");
	values[1] = age = objd_value_new_int(30);
	status = objd_set(c, keys, values, 2);
	objd_value_free(name);
	objd_value_free(age);
	if (status != OBJD_OK)
		return fail(c, "set", status);
	printf("set name and age at revision %llu\n",
	    (unsigned long long)objd_client_revision(c));

	/* One value, with its type. */
	if ((status = objd_get(c, "age", &got)) != OBJD_OK)
		return fail(c, "get age", status);
	if (got->kind_case == OBJD__VALUE__KIND_INT_VALUE)
		printf("age is the %s %lld\n", objd_value_type(got),
		    (long long)got->int_value);
	objd_value_free(got);

	/* The whole object, as objctl get prints it. */
	if ((status = objd_get_all(c, &resp)) != OBJD_OK)
		return fail(c, "get", status);
	json = objd_entries_to_json(resp->entries, resp->n_entries, 2);
	printf("%s\n", json);
	free(json);
	objd_response_free(resp);

	if ((status = objd_list(c, NULL, &resp)) != OBJD_OK)
		return fail(c, "list", status);
	for (size_t i = 0; i < resp->n_keys; i++)
		printf("key %s\n", resp->keys[i]);
	objd_response_free(resp);

	/* A missing key is a status, not a crash. */
	if ((status = objd_delete(c, keys + 1, 1)) != OBJD_OK)
		return fail(c, "del age", status);
	status = objd_get(c, "age", &got);
	printf("age after del: %s\n", objd_strerror(status));

	objd_close(c);
	return status == OBJD_NOT_FOUND ? 0 : 1;
}
