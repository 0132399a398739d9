// An operator's unlocking: store.LockoutResetStore.
package sqlstore

import (
	"context"
	"slices"
	"strconv"
	"strings"
)

func (s *Store) DeleteLoginFailures(ctx context.Context, keys, prefixes []string) (int, error) {
	var match []string
	if len(keys) > 0 {
		match = append(match, `lock_key IN (`+keyList(1, len(keys))+`)`)
	}
	for i := range prefixes {
		p := "CAST($" + strconv.Itoa(len(keys)+i+1) + " AS TEXT)"
		match = append(match, `substr(lock_key, 1, length(`+p+`)) = `+p)
	}
	if len(match) == 0 {
		return 0, nil
	}
	res, err := s.q.ExecContext(ctx, `DELETE FROM login_failures WHERE `+strings.Join(match, " OR "), anys(slices.Concat(keys, prefixes))...)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	return int(n), err
}
