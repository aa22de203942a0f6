package sqlstore

import (
	"context"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/kefu-chat/kefu/models"
)

// BenchmarkSendVisitorMessage measures the store's write path as the chat
// benchmark drives it: many shoppers, each appending to their own open
// conversation, all at once (-cpu and b.SetParallelism set how many).
//
//	go test ./models/sqlstore -run '^$' -bench SendVisitorMessage -benchtime 20000x
func BenchmarkSendVisitorMessage(b *testing.B) {
	ctx := context.Background()
	s, err := Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "kefu.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const shoppers = 200
	visitors := make([]string, shoppers)
	for i := range visitors {
		v := &models.Visitor{TokenHash: fmt.Sprint("hash", i)}
		if err := s.CreateVisitor(ctx, v); err != nil {
			b.Fatal(err)
		}
		visitors[i] = v.ID
	}
	var next atomic.Int64
	b.SetParallelism(shoppers / 2) // 200 goroutines on 2 CPUs
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		id := visitors[int(next.Add(1)-1)%shoppers]
		for pb.Next() {
			if _, err := s.SendVisitorMessage(ctx, models.VisitorMessage{VisitorID: id, ClientID: uuid.NewString(), Body: "hello"}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
