package core

import "testing"

const testMachineID = "0123456789abcdef0123456789abcdef"

func TestParseMachineID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{name: "with newline", in: testMachineID + "\n", want: testMachineID},
		{name: "without newline", in: testMachineID, want: testMachineID},
		{name: "uninitialized", in: "uninitialized\n", wantErr: true},
		{name: "empty", in: "", wantErr: true},
		{name: "upper case", in: "0123456789ABCDEF0123456789ABCDEF", wantErr: true},
		{name: "too long", in: testMachineID + "0", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseMachineID([]byte(tt.in))
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseMachineID(%q) error = %v, wantErr %v", tt.in, err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("parseMachineID(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
