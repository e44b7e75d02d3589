// Copyright 2017-2021 Lei Ni (nilei81@gmail.com) and other contributors.
//
// Licensed under the Apache License, Version 2.0 (the "License");
// you may not use this file except in compliance with the License.
// You may obtain a copy of the License at
//
//     http://www.apache.org/licenses/LICENSE-2.0
//
// Unless required by applicable law or agreed to in writing, software
// distributed under the License is distributed on an "AS IS" BASIS,
// WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
// See the License for the specific language governing permissions and
// limitations under the License.

package raftpb

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUpdateMarshalAndUnmarshal(t *testing.T) {
	buf := make([]byte, 1024*16)
	tests := []struct {
		input Update
	}{
		{Update{EntriesToSave: []Entry{{Index: 100, Term: 200, Cmd: []byte("test-data")}, {Index: 200, Term: 300}}}},
		{Update{State: State{100, 200, 300}}},
		{Update{Snapshot: Snapshot{Index: 100, Term: 200}}},
		{Update{State: State{100, 200, 300}, Snapshot: Snapshot{Index: 100, Term: 200}}},
		{Update{State: State{100, 200, 300}, Snapshot: Snapshot{Index: 100, Term: 200}, EntriesToSave: []Entry{{Index: 100, Term: 200, Cmd: []byte("test-data")}, {Index: 200, Term: 300}}}},
	}
	for _, tt := range tests {
		if _, err := tt.input.MarshalTo(buf); err != nil {
			require.NoError(t, err)
		}
		var loaded Update
		require.NoError(t, loaded.Unmarshal(buf))
		require.Equal(t, tt.input, loaded)
	}
}
