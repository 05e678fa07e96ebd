# shellcheck shell=bash
# Stage timings for .ci/run and tests/bin/run-tests: `stage NAME COMMAND...` runs COMMAND, keeps its
# exit status and appends "NAME<TAB>seconds<TAB>status" to $EC2LAB_STAGE_LOG; `stage_report`
# prints them as a table, with the wall time since the log was made (stages may overlap). The first
# script to source this owns the log.

if [[ -z ${EC2LAB_STAGE_LOG:-} ]]; then
  EC2LAB_STAGE_LOG=$(mktemp "${TMPDIR:-/tmp}/ec2lab-stages.XXXXXX")
  EC2LAB_STAGES_START=$(date +%s)
  export EC2LAB_STAGE_LOG EC2LAB_STAGES_START
  __ec2lab_stages_owner=1
fi

stage() {
  local name=$1 start=$SECONDS rc=0
  shift
  echo "== $name"
  "$@" || rc=$?
  printf '%s\t%s\t%s\n' "$name" "$((SECONDS - start))" "$([[ $rc -eq 0 ]] && echo ok || echo "failed ($rc)")" \
    >>"$EC2LAB_STAGE_LOG"
  return "$rc"
}

# True in the script that created the log: only it prints the report and removes the log.
stage_log_owner() { [[ -n ${__ec2lab_stages_owner:-} ]]; }

stage_report() {
  [[ -s $EC2LAB_STAGE_LOG ]] || return 0
  echo
  echo "== time by stage (wall clock)"
  local total=$(($(date +%s) - EC2LAB_STAGES_START))
  awk -F'\t' '{ printf "%-40s %6d s  %s\n", $1, $2, $3 }' "$EC2LAB_STAGE_LOG"
  printf '%-40s %6d s  (%dm%02ds)\n' "total, wall clock" "$total" $((total / 60)) $((total % 60))
}
