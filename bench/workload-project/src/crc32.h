#ifndef WL_CRC32_H
#define WL_CRC32_H
#include <stddef.h>
#include <stdint.h>
/* CRC-32 (IEEE 802.3, as zlib's crc32), continued from crc (0 to start). */
uint32_t crc32_update(uint32_t crc, const void *buf, size_t n);
#endif
