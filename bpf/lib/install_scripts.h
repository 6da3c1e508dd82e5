/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * dependencies.install_scripts in the kernel. A process whose scope entry
 * carries SCOPE_DEP_PENDING (a package manager's child the agent has not
 * classified yet: judged as an install script, fail closed) or
 * SCOPE_DEPENDENCY (a dependency's install script the rule applies to, or
 * one of its descendants) is an install script here.
 *
 * sensor.network refuses its connections and datagrams (network: deny)
 * at connect/sendmsg, where the kernel can refuse, and drops its packets
 * at egress; sensor.file-system kills it at the syscall's return when it
 * reads a secret or writes a protected path (files: protect-secrets):
 * a tracepoint cannot refuse, and the kill lands before the process runs
 * another instruction, so a secret read is never used and a file opened
 * for writing is never written.
 */
#ifndef RINGFENCE_INSTALL_SCRIPTS_H
#define RINGFENCE_INSTALL_SCRIPTS_H

#include "scope.h"

/* The rule as the agent writes it: bits of network_config.install_scripts
 * and file_system_config.install_scripts. 0: no rule. */
enum install_script_rule {
	/* no connection or send at all, loopback as network.loopback says */
	INSTALL_NETWORK_DENY = 1,
	/* network.allow, with DNS queries held to the allowed names */
	INSTALL_NETWORK_ALLOW_LIST = 2,
	/* secret reads and protected writes kill (block) or are reported */
	INSTALL_FILES_PROTECT = 4,
	/* every violation kills the script (action: kill) */
	INSTALL_ACTION_KILL = 8,
	/* block mode: enforced; without it every verdict is audit */
	INSTALL_ENFORCE = 16,
};
BTF_KEEP_ENUM(install_script_rule);

#define SCOPE_INSTALL_SCRIPT (SCOPE_DEP_PENDING | SCOPE_DEPENDENCY)

/* Whether scope flags make a process an install script the rule judges. */
static __always_inline bool install_script(__u32 rule, __u32 scope_flags)
{
	return rule && (scope_flags & SCOPE_INSTALL_SCRIPT) &&
	       (scope_flags & SCOPE_MONITORED) && !(scope_flags & SCOPE_EXEMPT);
}

/*
 * install_script() for pid by its live scope entry: a socket's owner
 * flags are a copy taken when the socket was made, before the agent may
 * have cleared SCOPE_DEP_PENDING.
 */
static __always_inline bool install_script_pid(__u32 rule, __u32 pid)
{
	struct scope_entry *entry;

	if (!rule)
		return false;
	entry = bpf_map_lookup_elem(&scope_pids, &pid);
	return entry && install_script(rule, entry->flags);
}

/*
 * Whether network: deny refuses a destination to a process with
 * scope_flags; loopback: the destination is loopback and the job allows
 * loopback. The resolver is refused too: a query is a message out.
 */
static __always_inline bool install_network_refused(__u32 rule,
						    __u32 scope_flags,
						    bool loopback)
{
	return (rule & INSTALL_NETWORK_DENY) && !loopback &&
	       install_script(rule, scope_flags);
}

/*
 * Whether an install script's DNS queries are held to the allowed names
 * (network: allow-list) whatever network.dns.queries says.
 */
static __always_inline bool install_queries_held(__u32 rule, __u32 pid)
{
	return (rule & INSTALL_NETWORK_ALLOW_LIST) && install_script_pid(rule, pid);
}

/*
 * Kills the current process for a refused verdict when it is an install
 * script and the rule's action is kill; true when the signal is pending.
 */
static __always_inline bool install_script_kill(__u32 rule, __u32 scope_flags)
{
	if (!(rule & INSTALL_ACTION_KILL) || !(rule & INSTALL_ENFORCE) ||
	    !install_script(rule, scope_flags))
		return false;
	if (bpf_send_signal(9))
		return false;
	stat_inc(STAT_KILLED);
	return true;
}

#ifdef RINGFENCE_FILE_SYSTEM_H
/*
 * The classes that make an event of kind by a process with scope_flags a
 * violation of files: protect-secrets: any open or change of a secret the
 * kernel matches exactly (an open for writing reads as well), a change to
 * a path it protects exactly (the workspace's .github, files.protect's
 * FS_CLASS_KILL paths). 0 when the rule does not apply. A handle changes
 * nothing: its open is judged.
 */
static __always_inline __u32 install_files_violation(__u32 rule,
						     __u32 scope_flags,
						     __u8 kind, __u32 classes)
{
	if (!(rule & INSTALL_FILES_PROTECT) || !install_script(rule, scope_flags))
		return 0;
	if (kind == FS_READ)
		return classes & FS_CLASS_DEP_SECRET;
	if (kind == FS_HANDLE)
		return 0;
	return classes & (FS_CLASS_DEP_SECRET | FS_CLASS_DEP_PROTECT | FS_CLASS_KILL);
}

/*
 * Whether the current process's read-only opens are worth a look: the
 * policy names secrets, or it is an install script whose secret reads the
 * rule judges (full paths are built for its reads only).
 */
static __always_inline bool install_reader(__u32 rule)
{
	struct scope_entry *scope;

	if (!(rule & INSTALL_FILES_PROTECT))
		return false;
	scope = current_scope();
	return scope && install_script(rule, scope->flags);
}
#endif /* RINGFENCE_FILE_SYSTEM_H */

#endif /* RINGFENCE_INSTALL_SCRIPTS_H */
