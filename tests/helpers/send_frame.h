/*
 * What the C attack helpers do with the packet socket they got: send one
 * broadcast frame carrying MARKER on INTERFACE with the ordinary 64-bit
 * sendto(), and print "ok" or "errno N".
 */
#ifndef RINGFENCE_TEST_SEND_FRAME_H
#define RINGFENCE_TEST_SEND_FRAME_H

#include <errno.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#define ETH_P_ALL 0x0003

static int send_frame(int fd, const char *interface, const char *marker)
{
	unsigned char frame[128];
	struct sockaddr_ll to = { .sll_family = AF_PACKET };
	size_t size = strlen(marker);

	memset(frame, 0xff, 6);
	memcpy(frame + 6, "\x02\0\0\0\0\x02", 6);
	/* IEEE 802 local experimental ethertype: no stack takes it */
	frame[12] = 0x88;
	frame[13] = 0xb5;
	if (size > sizeof(frame) - 14)
		size = sizeof(frame) - 14;
	memcpy(frame + 14, marker, size);
	to.sll_ifindex = if_nametoindex(interface);
	to.sll_halen = 6;
	memset(to.sll_addr, 0xff, 6);
	if (sendto(fd, frame, 14 + size, 0, (struct sockaddr *)&to,
		   sizeof(to)) < 0) {
		printf("errno %d\n", errno);
		return 0;
	}
	printf("ok\n");
	return 0;
}

#endif /* RINGFENCE_TEST_SEND_FRAME_H */
