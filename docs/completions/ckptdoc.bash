# bash completion for ckptdoc (installed by make install)
_ckptdoc()
{
    local cur prev cmd
    cur="${COMP_WORDS[COMP_CWORD]}"
    prev="${COMP_WORDS[COMP_CWORD-1]}"
    cmd="${COMP_WORDS[1]}"
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "inspect lint explain rules check tui --help --version" -- "$cur"))
        return
    fi
    case "$prev" in
        --format) COMPREPLY=($(compgen -W "text json github sarif" -- "$cur")); return ;;
        --device) COMPREPLY=($(compgen -W "cpu cuda" -- "$cur")); return ;;
        --rules) COMPREPLY=($(compgen -W "$(ckptdoc rules list 2>/dev/null | awk '/^[a-z]/ {print $1}')" -f -- "$cur")); return ;;
        --tp|--pp|-tp|-pp|--tensor-parallel-size|--pipeline-parallel-size) COMPREPLY=($(compgen -W "1 2 4 8 16" -- "$cur")); return ;;
    esac
    local layout="--rules --tp --pp --ep --pp-partition --tensor-parallel-size --pipeline-parallel-size --enable-expert-parallel --help"
    case "$cmd" in
        inspect) COMPREPLY=($(compgen -W "--format --list --verify --manifest --device --threads --no-color --help" -- "$cur")) ;;
        lint) COMPREPLY=($(compgen -W "$layout --format --strict --no-color" -- "$cur")) ;;
        check) COMPREPLY=($(compgen -W "$layout --device --tokens --against --layers --max-memory --max-model-len --reference --load-only --format" -- "$cur")) ;;
        tui|explain) COMPREPLY=($(compgen -W "$layout" -- "$cur")) ;;
        rules) COMPREPLY=($(compgen -W "list show explain" -- "$cur")) ;;
    esac
    case "$cur" in -*) ;; *) COMPREPLY+=($(compgen -d -- "$cur")) ;; esac
}
complete -F _ckptdoc ckptdoc
