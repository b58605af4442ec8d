# Helpers for libraries that chain their cleanup in front of a test's EXIT trap.

# Print the command of the shell's EXIT trap, or nothing when there is none.
exit_trap_command() {
	local existing
	local -a words
	existing=$(trap -p EXIT)
	if [ -n "$existing" ]; then
		# trap -p prints a quoted command line: trap -- 'COMMAND' EXIT.
		eval "words=($existing)"
		printf '%s' "${words[2]}"
	fi
}

# Make INT and TERM end the shell through exit, unless they have traps already: bash
# skips the EXIT trap when a signal without a trap kills it.
exit_on_signals() {
	if [ -z "$(trap -p INT)" ]; then
		trap 'exit 130' INT
	fi
	if [ -z "$(trap -p TERM)" ]; then
		trap 'exit 143' TERM
	fi
}
