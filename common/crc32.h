/* SPDX-License-Identifier: ISC */
/* crc32.h: the zlib crc32 that the object file's commit records carry.
 *
 * libdeflate's, and where configure found ISA-L (Debian builds it for
 * amd64, arm64, ppc64el and s390x), ISA-L's for CRC32_ISAL_MIN bytes or
 * more: on an x86 core with VPCLMULQDQ it reads 1 MiB at 64 GB/s against
 * libdeflate 1.14's 16, and each set of a large value is checksummed
 * whole as it is appended to the file. Below a kilobyte it is no faster,
 * and at 100 to 200 bytes (a small change's fragment) slower. The two
 * give the same crc (tests/unit/check_objfile.c compares them). */
#ifndef OBJD_CRC32_H
#define OBJD_CRC32_H

#include <stddef.h>
#include <stdint.h>

#include <libdeflate.h>
#ifdef HAVE_ISAL
#include <isa-l/crc.h>

#define CRC32_ISAL_MIN 1024
#endif

/* The crc32 of crc's bytes followed by p[0..len): crc is 0 for none. */
static inline uint32_t
crc32_update(uint32_t crc, const void *p, size_t len)
{
#ifdef HAVE_ISAL
	if (len >= CRC32_ISAL_MIN)
		return crc32_gzip_refl(crc, p, len);
#endif
	return libdeflate_crc32(crc, p, len);
}

#endif
