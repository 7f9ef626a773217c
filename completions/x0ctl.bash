_x0ctl_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _X0CTL_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _x0ctl_completion x0ctl
