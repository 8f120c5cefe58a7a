/* LD_PRELOAD shim for Debian 12's UML kernel (6.1) on hosts whose XSAVE area is larger than
 * UML's FP buffer (AVX-512, AMX).
 *
 * Why: UML saves and restores a guest thread's FP registers with PTRACE_GETREGSET /
 * PTRACE_SETREGSET (NT_X86_XSTATE) into a buffer of sizeof(struct _xstate), 832 bytes. The host
 * truncates a GET to that, but refuses a SET that is not the whole XSAVE area with EFAULT
 * (arch/x86/kernel/fpu/regset.c), and UML then panics at its first process ("ptrace set fp regs
 * failed, errno = 14"). Later kernels size the buffer from CPUID; Debian 12 has none of them.
 *
 * What: every GET also keeps the whole area in a shadow buffer of that UML buffer; a SET lays
 * UML's bytes over the shadow and sets the whole area. So each guest thread gets back all of its
 * own state (AVX-512 included), and nothing else of UML changes. Where the sizes already agree
 * the calls pass through. UML makes these calls from its one kernel thread: no locking.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <elf.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/uio.h>

#ifndef NT_X86_XSTATE
#define NT_X86_XSTATE 0x202
#endif

/* Room for the largest XSAVE area (AMX: about 11 KiB); a larger one passes through. The
 * buffers are static: UML calls ptrace on its own small kernel stacks, where neither a big
 * local nor libc's malloc belongs. */
#define AREA (16 * 1024)
#define SLOTS 4096

typedef long (*ptrace_fn)(int, pid_t, void *, void *);

static ptrace_fn real_ptrace;
static size_t whole_size; /* the host's XSAVE area, learned from the first GET */
static struct {
	void *key; /* UML's buffer of one guest thread */
	int filled;
} slot[SLOTS];
static unsigned char area[SLOTS][AREA];

__attribute__((constructor)) static void init(void)
{
	real_ptrace = (ptrace_fn)dlsym(RTLD_NEXT, "ptrace");
}

static int slot_of(void *key)
{
	size_t h = ((uintptr_t)key >> 4) % SLOTS;
	for (size_t i = 0; i < SLOTS; i++) {
		size_t s = (h + i) % SLOTS;
		if (slot[s].key == key)
			return (int)s;
		if (slot[s].key == NULL) {
			slot[s].key = key;
			return (int)s;
		}
	}
	return -1;
}

long ptrace(enum __ptrace_request request, ...)
{
	va_list ap;
	va_start(ap, request);
	pid_t pid = va_arg(ap, pid_t);
	void *addr = va_arg(ap, void *);
	void *data = va_arg(ap, void *);
	va_end(ap);

	struct iovec *iov = data;
	int xstate = (uintptr_t)addr == NT_X86_XSTATE && iov != NULL;
	if (xstate && (request == PTRACE_GETREGSET || request == PTRACE_SETREGSET)) {
		int s = slot_of(iov->iov_base);
		if (s >= 0) {
			struct iovec whole = { area[s], AREA };
			if (request == PTRACE_GETREGSET) {
				long r = real_ptrace(PTRACE_GETREGSET, pid, addr, &whole);
				if (r == 0 && whole.iov_len > iov->iov_len) {
					whole_size = whole.iov_len;
					slot[s].filled = 1;
					memcpy(iov->iov_base, area[s], iov->iov_len);
					return 0;
				}
			} else if (whole_size > iov->iov_len) {
				/* A thread UML never saved (a new one): the rest of its state as it is. */
				if (!slot[s].filled && real_ptrace(PTRACE_GETREGSET, pid, addr, &whole) != 0)
					return real_ptrace(request, pid, addr, data);
				slot[s].filled = 1;
				memcpy(area[s], iov->iov_base, iov->iov_len);
				whole.iov_len = whole_size;
				return real_ptrace(PTRACE_SETREGSET, pid, addr, &whole);
			}
		}
	}
	return real_ptrace(request, pid, addr, data);
}
